"""`gespace export optuna`: the exported journal loads in Optuna with one trial per full-budget
point, its mean error and cost as values, its seeds as user attributes, inactive knobs absent."""
from __future__ import annotations

import textwrap
from statistics import mean

import pytest

from gespace.grammar import load_space
from search.optuna_export import export_study

from test_effects import SPEC, planted, records_of


def test_an_exported_study_loads_with_the_right_trials_and_values(tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "effects.yaml"
    path.write_text(textwrap.dedent(SPEC))
    space = load_space(str(path))
    records = records_of(space, planted, seeds=2)
    stopped = records[0].__class__(**{**records[0].__dict__, "id": "early", "epochs": records[0].epochs[:1]})
    journal = tmp_path / "study.journal"
    points = len({r.id for r in records})
    assert points == 61  # every point of the space, each under 2 seeds
    assert export_study(space, records + [stopped], ["val_error", "gmacs"], "effects", journal) == points
    study = optuna.load_study(study_name="effects", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert study.metric_names == ["val_error", "gmacs"] and len(study.trials) == points
    by_id = {t.user_attrs["point_id"]: t for t in study.trials}
    assert "early" not in by_id  # not at the full budget: another fidelity
    for record in records[:6:2]:
        trial = by_id[record.id]
        runs = [r for r in records if r.id == record.id]
        assert trial.values == pytest.approx([mean(r.val_error for r in runs), record.cost.gmacs])
        assert trial.user_attrs["seeds"] == [0, 1] and trial.user_attrs["test_errors"] == [r.test_error for r in runs]
    baseline = next(t for t in study.trials if t.params["ge.placement.stages"] == "[]")
    assert set(baseline.params) == {"ge.placement.stages"}  # every GE knob inactive without GE
