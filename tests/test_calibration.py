"""Fidelity calibration on synthetic records with known rank correlations."""
from __future__ import annotations

import pytest

from search.calibration import calibrate, correlate, first_trusted_epoch
from search.records import CostFigures, TrialRecord


def cohort(curves: dict[str, list[list[float]]]) -> list[TrialRecord]:
    """curves: point -> one learning curve per seed."""
    return [TrialRecord(id=pid, seed=seed, status="ok", point={}, calibration=True, cost=CostFigures(gmacs=1.0),
                        val_error=curve[-1], epochs=[{"epoch": e + 1, "val_error": v} for e, v in enumerate(curve)])
            for pid, seeds in curves.items() for seed, curve in enumerate(seeds)]


def test_correlations_by_hand():
    # Ranks (1,2,3,4,5) vs (2,1,4,3,5): Spearman 1 - 6*4/(5*24) = 0.8; Kendall (8 - 2)/10 = 0.6.
    c = correlate([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], epoch=1)
    assert c.spearman == pytest.approx(0.8) and c.kendall == pytest.approx(0.6) and c.points == 5
    low, high = c.spearman_interval
    assert -1 <= low < 0.8 < high <= 1


def test_calibration_finds_the_epoch_where_rankings_become_trustworthy():
    # Epoch 1 ranks the 8 points in reverse of their final order; epoch 2 exactly; the two seeds agree.
    finals = [0.10 + 0.02 * i for i in range(8)]
    curves = {f"p{i}": [[0.9 - 0.05 * i, final + 0.05, final], [0.9 - 0.05 * i + 0.001, final + 0.05, final + 0.002]]
              for i, final in enumerate(finals)}
    result = calibrate(cohort(curves), max_epoch=3)
    first, second = result.epochs
    assert first.spearman == pytest.approx(-1.0) and first.kendall == pytest.approx(-1.0)
    assert second.spearman == pytest.approx(1.0) and second.spearman_interval == pytest.approx((1.0, 1.0))
    assert result.ceiling.spearman == pytest.approx(1.0)
    assert len(result.warnings) == 1 and result.warnings[0].startswith("epoch 1: its ranking is not clearly above")
    assert first_trusted_epoch(result) == 2


def test_calibration_needs_a_cohort():
    assert calibrate(cohort({"a": [[0.5, 0.2]], "b": [[0.4, 0.3]]}), max_epoch=2) is None
    assert first_trusted_epoch(None) is None


def test_report_prints_and_draws_the_calibration(tmp_path):
    """The report's calibration section and calibration.png, from the same cohort as above."""
    import dataclasses

    from search.report import write_report
    from search.store import CampaignStore

    finals = [0.10 + 0.02 * i for i in range(8)]
    curves = {f"p{i}": [[0.9 - 0.05 * i, final + 0.05, final], [0.9 - 0.05 * i + 0.001, final + 0.05, final + 0.002]]
              for i, final in enumerate(finals)}
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "c")
    store.create(str(spec), {"name": "c"})
    for record in cohort(curves):
        store.append(dataclasses.replace(record, budget=3))
    paths = write_report([store.directory])
    text = paths["markdown"].read_text()
    assert "| 1 | 8 | -1.00 [-1.00, -1.00] | -1.00 [-1.00, -1.00] |" in text
    assert "First epoch whose Spearman interval clears 0.5: 2 (what --grace auto uses)." in text
    assert paths["calibration"] == store.directory / "calibration.png" and paths["calibration"].stat().st_size > 0
