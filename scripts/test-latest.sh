#!/usr/bin/env bash
# Run the suite against the newest release of every dependency, beyond
# pyproject.toml's upper bounds, in .venv-latest (not the user's .venv): a new
# major version breaks this check before it breaks a user's install. torch and
# torchvision stay at their pins (a newer torch is a several-GB CUDA download,
# and this machine caps it). Prints the versions that differ from
# requirements.lock, then the suite's summary. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-latest/bin/python ] || python3 -m venv .venv-latest
names="$(python3 - <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
pinned = {"torch", "torchvision"}
for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
    name = re.match(r"[A-Za-z0-9_.\-\[\]]+", requirement).group(0)
    print(requirement if name.split("[")[0] in pinned else name)
PY
)"
mapfile -t requirements <<< "$names"
pip=(.venv-latest/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --upgrade --upgrade-strategy eager "${requirements[@]}" setuptools
"${pip[@]}" --no-deps --no-build-isolation -e .
echo "newest releases that differ from requirements.lock:"
.venv-latest/bin/python - <<'PY'
import re
from importlib.metadata import distributions
locked = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", open("requirements.lock").read(), re.M))
locked = {k.lower().replace("_", "-"): v for k, v in locked.items()}
for dist in sorted(distributions(), key=lambda d: d.metadata["Name"].lower()):
    name = dist.metadata["Name"].lower().replace("_", "-")
    if name in locked and locked[name] != dist.version:
        print(f"  {name} {locked[name]} -> {dist.version}")
PY
GESPACE_DEPENDENCIES=latest exec .venv-latest/bin/python -m pytest -q "$@"
