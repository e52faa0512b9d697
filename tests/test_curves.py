"""TensorBoard curves: the scalars a trial writes, read back from its event files."""
from __future__ import annotations

import pytest

from search.curves import TEST_TAG, CurveWriter, read_scalars, run_directory


def test_a_trial_continued_by_a_promotion_has_one_whole_curve(tmp_path):
    run = run_directory(tmp_path, None, "abcdef123456", 3)
    assert run == tmp_path / "tensorboard" / "abcdef123456" / "s3"
    first = CurveWriter(run, "dwconv global, stages 2,3,4")
    first.epoch({"epoch": 1, "train_loss": 1.25, "val_error": 0.3, "val_top5_error": 0.02,
                 "images_per_s": 600.0})
    first.close(None, 1)  # stopped at the rung
    second = CurveWriter(run, "dwconv global, stages 2,3,4")  # promoted: continues in the same run
    for epoch, loss, error in ((2, 0.75, 0.2), (3, 0.5, 0.125)):
        second.epoch({"epoch": epoch, "train_loss": loss, "val_error": error, "images_per_s": 650.0})
    second.close(0.13, 3)
    scalars = read_scalars(run)
    assert scalars["train/loss"] == [(1, 1.25), (2, 0.75), (3, 0.5)]
    assert scalars["validation/top1_error_percent"] == [(1, pytest.approx(30.0)), (2, pytest.approx(20.0)),
                                                  (3, pytest.approx(12.5))]
    assert scalars["validation/top5_error_percent"] == [(1, pytest.approx(2.0))]
    assert scalars["train/images_per_s"] == [(1, 600.0), (2, 650.0), (3, 650.0)]
    assert scalars[TEST_TAG] == [(3, pytest.approx(13.0))]
    # The design in words is the run's text (once per file: each continuation repeats it).
    assert all(b"dwconv global, stages 2,3,4" in path.read_bytes() for path in run.glob("events.*"))
    assert run_directory(tmp_path, "ge-theta", "abcdef123456", 0).name == "s0"
    assert run_directory(tmp_path, "ge-theta", "abcdef123456", 0).parent.name == "ge-theta"


def test_a_finished_trial_gives_the_hparams_dashboard_its_knobs_and_final_figures(tmp_path):
    from search.curves import read_hparams

    run = run_directory(tmp_path, "ge-theta", "abcdef123456", 0)
    writer = CurveWriter(run, "dwconv global, stages 2,3,4")
    writer.epoch({"epoch": 1, "val_error": 0.25})
    point = {"ge.gather.op": "dwconv", "ge.placement.stages": (2, 3, 4), "train.lr": 0.1, "train.flip": False}
    writer.close(0.2, 1, knobs=point, finals={"val_error": 0.25, "test_error": 0.2, "gmacs": 0.031, "latency_ms": None})
    assert read_hparams(run) == {"ge.gather.op": "dwconv", "ge.placement.stages": "(2, 3, 4)",
                                 "train.lr": pytest.approx(0.1), "train.flip": False}
    scalars = read_scalars(run)
    assert scalars["hparam/val_error"] == [(1, 0.25)] and scalars["hparam/test_error"] == [(1, pytest.approx(0.2))]
    assert scalars["hparam/gmacs"] == [(1, pytest.approx(0.031))] and "hparam/latency_ms" not in scalars
