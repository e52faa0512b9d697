"""Hostile and broken input: each case ends in one stderr line (exit 2) naming the file, and,
where one exists, its line and key, within a second or two and without a traceback.

Specs built to exhaust time or memory, spec files that are not what they claim, and
checkpoints that are not gespace's (or whose pickle carries code: nothing of it may run).
"""
from __future__ import annotations

import glob
import json
import os
import pickle
import random
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

import gespace.files as files_module
import gespace.train.checkpoint as checkpoint_module
from gespace.cli import build_parser, main
from gespace.errors import CheckpointError
from gespace.files import MAX_FILE_BYTES
from gespace.grammar import Condition, ConditionSyntaxError, load_space
from gespace.grammar.conditions import MAX_CONDITION_CHARS, MAX_NESTING
from gespace.grammar.spec import MAX_DEPTH, MAX_NODES, MAX_SCALAR_CHARS, MAX_SPEC_BYTES, read_spec
from gespace.train.checkpoint import load_checkpoint

FAST = 2.0  # seconds: a guard against exponential or unbounded work, not a benchmark
HEAD = "name: hostile\nbackbone: {arch: cifar_resnet, depth: 20}\n"


@pytest.fixture(autouse=True, scope="module")
def _commands_imported() -> None:
    """The first parser loads the plugin commands: keep that out of the timed calls."""
    build_parser()


def run(capsys, *argv: str) -> tuple[int, list[str], float]:
    """(exit status, stderr lines, seconds) of ``gespace ARGV`` run in-process."""
    start = time.perf_counter()
    code = main(list(argv))
    elapsed = time.perf_counter() - start
    return code, capsys.readouterr().err.splitlines(), elapsed


def one_line(capsys, *argv: str) -> tuple[str, float]:
    code, lines, elapsed = run(capsys, *argv)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0], elapsed


def unreadable(path: Path, module: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` unreadable: by its mode, and for root (who reads anyway) by ``module``'s open."""
    path.chmod(0)
    if os.geteuid() == 0:
        def refuse(file, *args, **kwargs):
            if os.fspath(file) == str(path):
                raise PermissionError(13, "Permission denied", str(path))
            return open(file, *args, **kwargs)
        monkeypatch.setattr(module, "open", refuse, raising=False)


# --- specs built to exhaust time or memory -------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    """About 1 KB of YAML that expands to 9**(levels + 1) nodes."""
    text = "laughs:\n  l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha]\n"
    for i in range(1, levels + 1):
        text += f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return HEAD + text


def when(condition: str) -> str:
    return HEAD + "ge:\n  excite:\n    mlp: {choice: [none, se]}\n" \
                  f"    reduction: {{choice: [4, 8], when: \"{condition}\"}}\n"


EXHAUSTING = {
    # name: (spec text, expected "LINE:COL: key", words of the message)
    "billion-laughs": (billion_laughs(), "8:12: laughs.l4", ["more than 10000 YAML nodes", "*l3 alone stands for 7381"]),
    "laughs-in-a-knob": (HEAD + "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "train:\n  lr: {choice: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}\n",
                         "7:45: train.lr.choice", ["more than 10000 YAML nodes", "*c alone stands for 1111"]),
    "deep-flow-lists": (HEAD + "ge: " + "[" * 5000 + "]" * 5000 + "\n", "3:36: ge",
                        [f"nested more than {MAX_DEPTH} levels"]),
    "deep-block-mappings": (HEAD + "ge:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200)),
                            "35:65: ge.k0.k1", [f"nested more than {MAX_DEPTH} levels"]),
    "deep-flow-mappings": (HEAD + "train: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "3:132: train.a.a.a",
                           [f"nested more than {MAX_DEPTH} levels"]),
    "huge-list": (HEAD + "train:\n  lr: {choice: [" + ", ".join(["0.1"] * 50_000) + "]}\n",
                  "4:49942: train.lr.choice", [f"more than {MAX_NODES} YAML nodes"]),
    "huge-string": (HEAD + "description: \"" + "x" * 500_000 + "\"\n", "3:14: description",
                    ["a value of 500000 characters", str(MAX_SCALAR_CHARS)]),
    "huge-key": (HEAD + "? " + "x" * 200_000 + "\n: 1\n", "3:3: <spec>", [str(MAX_SCALAR_CHARS)]),
    "alias-cycle": (HEAD + "ge: &a [*a]\n", "3:9: ge", ["*a", "cycle"]),
    "deep-parentheses": (when("(" * 300 + "ge.excite.mlp == 'se'" + ")" * 300),
                         "6:72: ge.excite.reduction.when", [f"nested more than {MAX_NESTING} levels"]),
    "deep-lists-in-condition": (when("ge.excite.mlp in " + "[" * 100 + "'se'" + "]" * 100),
                                "6:89: ge.excite.reduction.when", [f"nested more than {MAX_NESTING}"]),
    "deep-nots": (when("not " * 200 + "ge.excite.mlp == 'se'"), "6:168: ge.excite.reduction.when",
                  [f"nested more than {MAX_NESTING}"]),
    "long-condition": (when(" or ".join(["ge.excite.mlp == 'se'"] * 100)), "6:40: ge.excite.reduction.when",
                       [f"a condition may have at most {MAX_CONDITION_CHARS}", "..."]),
}


@pytest.mark.parametrize("case", list(EXHAUSTING))
def test_specs_built_to_exhaust_time_or_memory_end_in_one_line(case, capsys, tmp_path):
    text, where, words = EXHAUSTING[case]
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(text)
    line, elapsed = one_line(capsys, "space", "validate", str(spec))
    assert line.startswith(f"{spec}:{where}"), line
    assert all(word in line for word in words), line
    assert len(line) < 500, line  # the message quotes the input only in short
    assert elapsed < FAST


def test_a_file_over_the_size_limit_is_refused_unread(capsys, tmp_path):
    spec = tmp_path / "huge.yaml"
    with spec.open("w") as handle:
        handle.write(HEAD)
        handle.write(("# " + "padding " * 100 + "\n") * (MAX_SPEC_BYTES // 800 + 1))
    line, elapsed = one_line(capsys, "space", "count", str(spec))
    assert line == (f"{spec}:1:1: <spec>: the file is larger than {MAX_SPEC_BYTES} bytes, the limit "
                    "for a spec; is it a spec?")
    assert elapsed < FAST


def test_limits_leave_real_specs_alone(tmp_path):
    """The shipped spaces, and a spec that shares settings through anchors and aliases, pass."""
    shipped = sorted(glob.glob("spaces/*.yaml"))
    assert shipped
    for path in shipped:
        assert read_spec(path).problems == []
        load_space(path)
    spec = tmp_path / "aliases.yaml"
    spec.write_text(HEAD + "ge:\n  placement:\n    stages: {choice: [[], [4], [3, 4]]}\n"
                    "  gather:\n    extent: &extents {choice: [2, 4, global]}\n"
                    "anchors:\n  baseline: {ge.placement.stages: []}\n"
                    "  ge: &ge {ge.placement.stages: [3, 4], ge.gather.extent: global}\n"
                    "  same: *ge\n"
                    "description: " + "a long description. " * 400 + "\n")
    space = load_space(str(spec))
    assert [name for name, _ in space.anchors()] == ["baseline", "ge", "same"]


def test_conditions_have_bounded_length_and_depth():
    nested = "(" * MAX_NESTING + "ge.excite.mlp == 'se'" + ")" * MAX_NESTING
    assert Condition(nested).holds({"ge.excite.mlp": "se"})
    with pytest.raises(ConditionSyntaxError, match="nested more than"):
        Condition("(" + nested + ")")
    with pytest.raises(ConditionSyntaxError, match="nested more than") as raised:
        Condition("not " * (MAX_NESTING + 1) + "x")
    assert raised.value.offset == 4 * MAX_NESTING  # at the 'not' one level too deep
    with pytest.raises(ConditionSyntaxError, match="at most"):
        Condition("x == 1 or " * 200 + "x == 2")


# --- spec files that are not what they claim ------------------------------------------------------
def test_bytes_that_are_not_utf8_are_located(capsys, tmp_path):
    cases = {
        "latin1.yaml": (HEAD + "description: caf").encode() + b"\xe9 au lait\n",  # 3:17
        "binary.yaml": bytes(range(256)) * 4,  # 0x80, the first bad byte, is 118 bytes after the \n
        "utf16.yaml": HEAD.encode("utf-16"),
        "late.yaml": (HEAD + "ge:\n  excite:\n    mlp: se\n").encode() + b"# \xff\xfe\n",  # 6:3
    }
    where = {"latin1.yaml": "3:17", "binary.yaml": "2:118", "utf16.yaml": "1:1", "late.yaml": "6:3"}
    for name, data in cases.items():
        spec = tmp_path / name
        spec.write_bytes(data)
        line, elapsed = one_line(capsys, "space", "validate", str(spec))
        assert line.startswith(f"{spec}:{where[name]}: <spec>: not UTF-8 text: byte 0x"), line
        assert elapsed < FAST


def test_control_characters_and_unconstructible_values_are_located(capsys, tmp_path):
    cases = {
        "nul.yaml": (HEAD + "description: a\x00b\n", "3:15: <spec>: YAML syntax error: character #x0000"),
        "date.yaml": (HEAD + "description: 2024-13-45\n", "3:14: description: cannot read this value"),
        "digits.yaml": (HEAD + "train:\n  epochs: " + "9" * 5000 + "\n", "4:11: train.epochs: cannot read"),
        "tag.yaml": (HEAD + "description: !!python/name:os.system x\n", "3:14: description: cannot read"),
    }
    for name, (text, expected) in cases.items():
        spec = tmp_path / name
        spec.write_text(text)
        line, _ = one_line(capsys, "space", "validate", str(spec))
        assert line.startswith(f"{spec}:{expected}"), line


def test_paths_that_are_not_spec_files(capsys, tmp_path, monkeypatch):
    (tmp_path / "a-directory.yaml").mkdir()
    (tmp_path / "a-file").write_text(HEAD)
    locked = tmp_path / "locked.yaml"
    locked.write_text(HEAD)
    unreadable(locked, files_module, monkeypatch)
    os.mkfifo(tmp_path / "fifo.yaml")  # reading it would block forever
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")
    cases = {
        "a-directory.yaml": "cannot read spec: a directory, not a spec file",
        "locked.yaml": "cannot read spec: Permission denied",
        "fifo.yaml": "cannot read spec: not a regular file",
        "dangling.yaml": "cannot read spec: No such file or directory",
        "a-file/spec.yaml": "cannot read spec: Not a directory",
    }
    for name, message in cases.items():
        line, elapsed = one_line(capsys, "space", "show", str(tmp_path / name))
        assert line == f"{tmp_path / name}:1:1: <spec>: {message}"
        assert elapsed < FAST


SPEC_COMMANDS = [["space", "validate"], ["space", "show"], ["space", "count"], ["space", "sample"],
                 ["space", "enumerate"], ["space", "anchors"], ["cost"], ["train", "--point", "anchor:x"],
                 ["search", "--storage", "{tmp}"]]


@pytest.mark.parametrize("command", SPEC_COMMANDS, ids=" ".join)
def test_every_command_that_reads_a_spec_refuses_in_one_line(command, capsys, tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "laughs.yaml").write_text(billion_laughs())
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    expected = {"dir.yaml": "1:1: <spec>: cannot read spec: a directory",
                "laughs.yaml": "8:12: laughs.l4: more than 10000 YAML nodes",
                "latin1.yaml": "1:10: <spec>: not UTF-8 text: byte 0xe9"}
    for name, start in expected.items():
        spec = str(tmp_path / name)
        argv = [command[0], *command[1:2], spec, *command[2:]] if command[0] == "space" else \
            [command[0], spec, *command[1:]]
        line, _ = one_line(capsys, *[arg.format(tmp=tmp_path) for arg in argv])
        assert line.startswith(f"{spec}:{start}"), line


def test_a_point_file_that_is_not_utf8_is_one_line(capsys, tmp_path):
    point = tmp_path / "point.json"
    point.write_bytes(b'{"ge.gather.op": "pool\xff"}')
    line, _ = one_line(capsys, "train", "spaces/fashion-demo.yaml", "--point", f"@{point}")
    assert line == f"gespace: {point}:1:23: not UTF-8 text: byte 0xff here (invalid start byte)"


@pytest.mark.parametrize("domain, where, value", [("{float: [.nan, 0.5]}", "4:15", "nan"),
                                                 ("{float: [0.01, .inf]}", "4:15", "inf"),
                                                 ("{choice: [0.1, .nan]}", "4:22", "nan"),
                                                 ("{value: -.inf}", "4:15", "-inf")])
def test_numeric_domains_refuse_nan_and_infinities(domain, where, value, capsys, tmp_path):
    """NaN passes every bound check (its comparisons are all false): a spec must not."""
    spec = tmp_path / "nan.yaml"
    spec.write_text(HEAD + f"train:\n  lr: {domain}\n")
    line, _ = one_line(capsys, "space", "validate", str(spec))
    assert line == f"{spec}:{where}: train.lr: expected a finite number, got {value}"


# --- every other file a user hands gespace: points, records, settings, caches ---------------------
HOSTILE_JSON = {
    "deep.json": ("[" * 100_000 + "]" * 100_000, f"nested more than {MAX_DEPTH} levels deep"),
    "nan.json": ('{"train.lr": NaN}', "NaN is not a number gespace accepts (finite numbers only)"),
    "overflow.json": ('{"train.lr": 1e999}', "1e999 is not a number gespace accepts (finite numbers only)"),
    "huge.json": ('{"pad": "' + "x" * (MAX_FILE_BYTES + 1) + '"}', f"the file is larger than {MAX_FILE_BYTES} bytes"),
    "bad.json": ('{"train.lr": 0.1,}', "1:18: not JSON: Expecting property name enclosed in double quotes"),
}


def test_hostile_point_files_end_in_one_line(capsys, tmp_path):
    os.mkfifo(tmp_path / "fifo.json")  # reading it would block forever
    (tmp_path / "dir.json").mkdir()
    cases = {**{name: message for name, (_, message) in HOSTILE_JSON.items()},
             "fifo.json": "cannot read point: not a regular file", "dir.json": "cannot read point: a directory"}
    for name, (text, _) in HOSTILE_JSON.items():
        (tmp_path / name).write_text(text)
    for name, message in cases.items():
        line, elapsed = one_line(capsys, "train", "spaces/fashion-demo.yaml", "--point", f"@{tmp_path / name}")
        assert line.startswith(f"gespace: {tmp_path / name}") and message in line, line
        assert elapsed < FAST


def test_hostile_records_settings_and_caches_end_in_one_line(capsys, tmp_path):
    """A campaign directory whose records, settings or hypervolume cache are hostile: `gespace
    report` refuses in one line naming the file (and the record's line)."""
    from search.records import TrialRecord
    from search.store import CampaignStore

    store = CampaignStore(tmp_path / "c")
    store.create("spaces/fashion-demo.yaml", {"spec": "spaces/fashion-demo.yaml", "name": "c",
                                              "storage": str(tmp_path), "num_samples": 1})
    store.append(TrialRecord(id="a", status="ok", point={}, seed=0, val_error=0.1, epochs=[{"epoch": 1}]))
    good = store.trials_path.read_bytes()
    records = {"a line over the limit": (good + b'{"id": "' + b"x" * (MAX_FILE_BYTES + 1) + b'"}\n',
                                        f"trials.jsonl:2: a line longer than {MAX_FILE_BYTES} bytes"),
               "deep": (good + b"[" * 5000 + b"]" * 5000 + b"\n", f"trials.jsonl:2: nested more than {MAX_DEPTH}"),
               "NaN": (good.replace(b'"val_error": 0.1', b'"val_error": NaN'),
                       "trials.jsonl:1: NaN is not a number gespace accepts")}
    for name, (data, message) in records.items():
        store.trials_path.write_bytes(data)
        line, elapsed = one_line(capsys, "report", str(store.directory))
        assert message in line and line.startswith(f"gespace: {store.directory}"), (name, line)
        assert elapsed < FAST
    store.trials_path.write_bytes(good)
    settings = store.directory / "campaign.json"
    settings.write_text("{" * 10_000)
    line, _ = one_line(capsys, "report", str(store.directory))
    assert line == f"gespace: {settings}: nested more than {MAX_DEPTH} levels deep, the limit for gespace's files"


# --- checkpoints ---------------------------------------------------------------------------------
class Payload:
    """Unpickling this runs ``action(argument)``: what a malicious checkpoint would do."""

    def __init__(self, action: Callable, argument: object) -> None:
        self.action, self.argument = action, argument

    def __reduce__(self):
        return self.action, (self.argument,)


def gespace_like(**extra) -> dict:
    return {"format": 1, "model": {"weight": torch.zeros(4)}, "epoch": 1, "point": {}, **extra}


def write_foreign(tmp_path: Path) -> dict[str, str]:
    """Files that are not gespace checkpoints -> words their one line must hold."""
    good = tmp_path / "good.pt"
    torch.save(gespace_like(), good)
    data = good.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "no-end.pt").write_bytes(data[:-30])
    (tmp_path / "header.pt").write_bytes(data[:10])
    (tmp_path / "random.pt").write_bytes(b"\x8f" + random.Random(0).randbytes(4095))
    (tmp_path / "json.pt").write_text(json.dumps({"format": 1, "model": {}}))
    (tmp_path / "pickle.pt").write_bytes(pickle.dumps({"format": 1, "model": {}})[:-5])
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "dict.pt")
    torch.save(gespace_like(format=2), tmp_path / "format2.pt")
    torch.save({"format": 1, "epoch": 3}, tmp_path / "no-model.pt")
    return {
        "empty.pt": "not a gespace checkpoint (an empty file)",
        "half.pt": "not a gespace checkpoint (truncated or corrupt: ",
        "no-end.pt": "not a gespace checkpoint (truncated or corrupt: ",
        "header.pt": "not a gespace checkpoint (truncated or corrupt: ",
        "random.pt": "not a gespace checkpoint (not a PyTorch file; it starts with b'\\x8f",
        "json.pt": "not a gespace checkpoint (not a PyTorch file; it starts with b'{\"format",
        "pickle.pt": "not a gespace checkpoint (truncated or corrupt: ",
        "tensor.pt": "not a gespace checkpoint (a PyTorch file holding a Tensor, not gespace's dict)",
        "dict.pt": "not a gespace checkpoint (a dict without gespace's 'format' key",
        "format2.pt": "not a gespace checkpoint (format 2; this gespace reads format 1)",
        "no-model.pt": "not a gespace checkpoint (format 1 but no model weights)",
    }


def test_foreign_and_truncated_checkpoints_end_in_one_line(capsys, tmp_path):
    for name, message in write_foreign(tmp_path).items():
        path = tmp_path / name
        line, elapsed = one_line(capsys, "eval", str(path), "--device", "cpu")
        assert line.startswith(f"gespace: {path}: {message}"), line
        assert elapsed < FAST
    assert load_checkpoint(tmp_path / "good.pt")["epoch"] == 1


def test_paths_that_are_not_checkpoint_files(capsys, tmp_path, monkeypatch):
    (tmp_path / "a-directory.pt").mkdir()
    locked = tmp_path / "locked.pt"
    torch.save(gespace_like(), locked)
    unreadable(locked, checkpoint_module, monkeypatch)
    os.mkfifo(tmp_path / "fifo.pt")
    cases = {
        "a-directory.pt": "a directory, not a checkpoint file",
        "locked.pt": "cannot read checkpoint: Permission denied",
        "fifo.pt": "not a regular file",
        "missing.pt": "cannot read checkpoint: No such file or directory",
    }
    for name, message in cases.items():
        line, elapsed = one_line(capsys, "eval", str(tmp_path / name), "--device", "cpu")
        assert line == f"gespace: {tmp_path / name}: {message}"
        assert elapsed < FAST


def write_payloads(tmp_path: Path, marker: Path) -> dict[str, str]:
    """Checkpoints whose pickles would run code -> the global the refusal must name."""
    touch = f"touch {marker}"
    create = f"open({str(marker)!r}, 'w')"
    torch.save(gespace_like(extra=Payload(os.system, touch)), tmp_path / "zip-system.pt")
    torch.save(gespace_like(extra=[{"deep": Payload(eval, create)}]), tmp_path / "zip-eval.pt")
    (tmp_path / "raw-eval.pt").write_bytes(pickle.dumps(Payload(eval, create)))  # protocol 5
    (tmp_path / "raw-system.pt").write_bytes(pickle.dumps(Payload(os.system, touch), protocol=2))
    (tmp_path / "raw-exec.pt").write_bytes(pickle.dumps(Payload(exec, f"import os; os.system({touch!r})"),
                                                        protocol=0))
    torch.save(gespace_like(model=Payload(os.system, touch)), tmp_path / "in-weights.pt")
    # A torch function passes the scan; torch's own allowlist refuses it, unrun, in the same words.
    torch.save(gespace_like(extra=Payload(torch.random.manual_seed, 5)), tmp_path / "torch-function.pt")
    return {"zip-system.pt": f"{os.system.__module__}.system", "zip-eval.pt": "builtins.eval",
            "raw-eval.pt": "builtins.eval", "raw-system.pt": f"{os.system.__module__}.system",
            "raw-exec.pt": "builtins.exec", "in-weights.pt": f"{os.system.__module__}.system",
            "torch-function.pt": "torch.random.manual_seed"}


def test_checkpoints_whose_pickle_carries_code_are_refused_unrun(capsys, tmp_path):
    marker = tmp_path / "marker"
    for name, target in write_payloads(tmp_path, marker).items():
        path = tmp_path / name
        line, _ = one_line(capsys, "eval", str(path), "--device", "cpu")
        assert line == (f"gespace: {path}: refused: the checkpoint's pickle references code ({target}); "
                        "gespace checkpoints hold only tensors and plain values")
        assert not marker.exists(), name
        with pytest.raises(CheckpointError, match="refused"):
            load_checkpoint(path)
        assert not marker.exists(), name


def test_analyze_refuses_bad_checkpoints_in_one_line(capsys, tmp_path):
    marker = tmp_path / "marker"
    write_payloads(tmp_path, marker)
    write_foreign(tmp_path)
    for argv, words in ((["selectivity", "zip-system.pt"], "refused: "),
                        (["selectivity", "raw-eval.pt", "--baseline", "good.pt"], "refused: "),
                        (["prune", "half.pt", "--block", "stage2.0"], "not a gespace checkpoint (truncated"),
                        (["prune", "random.pt", "--block", "stage2.0"], "not a gespace checkpoint (not a"),
                        (["selectivity", "."], "a directory, not a checkpoint file")):
        path = tmp_path / argv[1]
        line, _ = one_line(capsys, "analyze", argv[0], str(path), *argv[2:], "--device", "cpu",
                           "--out", str(tmp_path / "out"))
        assert line.startswith(f"gespace: {path}: {words}"), line
    assert not marker.exists()
