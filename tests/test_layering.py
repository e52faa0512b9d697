"""The architecture holds: `gespace` never imports `search`, and a Ray worker's trial module
imports no report (nor what reports need: hypervolume, latency, calibration, plots)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_gespace_never_imports_search():
    upward = {str(path.relative_to(ROOT)): sorted(name for name in imported_modules(path)
                                                  if name == "search" or name.startswith("search."))
              for path in sorted((ROOT / "gespace").rglob("*.py"))}
    assert {path: names for path, names in upward.items() if names} == {}


def test_a_trial_imports_no_report():
    code = ("import json, sys, search.trial; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('search', 'matplotlib', 'optuna'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert loaded == ["search", "search.contract", "search.curves", "search.records", "search.trial"]


def test_search_is_this_projects_campaign_layer():
    """`search` installs as a top-level package (see the README's Layout): an installed
    distribution with a module of that name would shadow it; this says so at once."""
    import search

    assert Path(search.__file__).resolve().parent == ROOT / "search"
