"""`gespace space ...` end to end: output formats, exit codes, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gespace.cli import main
from gespace.grammar import load_space, point_id


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_ok(capsys):
    code, out, _ = run(capsys, "space", "validate", "spaces/paper-resnet50.yaml", "spaces/paper-cifar.yaml")
    assert code == 0
    assert "spaces/paper-resnet50.yaml: ok, 121 points, 8 anchors" in out
    assert "spaces/paper-cifar.yaml: ok, 15 points, 15 anchors" in out


def test_validate_reports_every_file_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nge:\n  gather:\n    extent: 3\n")
    worse = tmp_path / "worse.yaml"
    worse.write_text("name: [\n")
    code, out, err = run(capsys, "space", "validate", "spaces/fashion-demo.yaml", str(bad), str(worse))
    assert code == 2
    assert "fashion-demo.yaml: ok" in out
    lines = err.strip().splitlines()
    assert lines[0] == f"{bad}:4:13: ge.gather.extent: 3 is not one of 2, 4, 8, global"
    assert lines[1].startswith(f"{worse}:2:1: <spec>: YAML syntax error")
    assert "Traceback" not in err


def test_missing_file_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "space", "count", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert err.strip() == f"{tmp_path / 'nope.yaml'}:1:1: <spec>: cannot read spec: No such file or directory"


def test_count_and_enumerate_json(capsys):
    code, out, _ = run(capsys, "space", "count", "spaces/paper-shufflenet.yaml")
    assert (code, out.strip()) == (0, "17")
    code, out, _ = run(capsys, "space", "enumerate", "spaces/paper-shufflenet.yaml", "--format", "json")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 17 == len({r["id"] for r in records})
    assert all(r["id"] == point_id(r["point"]) and set(r) == {"id", "point"} for r in records)


def test_sample_json_is_seeded(capsys):
    argv = ("space", "sample", "spaces/fashion-demo.yaml", "-n", "5", "--seed", "3", "--method", "sobol",
            "--format", "json")
    _, first, _ = run(capsys, *argv)
    _, second, _ = run(capsys, *argv)
    assert first == second and len(first.splitlines()) == 5


def test_anchors_json(capsys):
    code, out, _ = run(capsys, "space", "anchors", "spaces/paper-resnet101.yaml", "--format", "json")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["name"] for r in records] == ["baseline", "se", "ge-theta-minus", "ge-theta", "ge-theta-plus",
                                            "resnet-152"]
    space = load_space("spaces/paper-resnet101.yaml")
    assert records[3]["id"] == point_id(space.anchor("ge-theta"))
    assert records[5]["point"]["backbone.depth"] == 152


def test_show_and_keys(capsys):
    code, out, _ = run(capsys, "space", "show", "spaces/paper-resnet50.yaml")
    assert code == 0
    assert "paper-resnet50: 121 points, 8 anchors" in out and "GE-θ⁺" in out and "max_params_m: 40" in out
    code, out, _ = run(capsys, "space", "keys")
    assert code == 0 and "ge.excite.reduction" in out


def test_console_script_runs_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbackbone: {arch: resnet, depth: 51}\n")
    result = subprocess.run([sys.executable, "-m", "gespace", "space", "validate", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"{bad}:2:33: backbone.depth: the space has no buildable point: "
                                     "resnet depth 51 is not one of 18, 34, 50, 101, 152")


@pytest.mark.parametrize("argv", [["space", "sample", "spaces/fashion-demo.yaml", "-n", "x"]])
def test_argparse_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
