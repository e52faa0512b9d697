"""The trial contract: one typed spec in every Tune config, one status mapping, one record maker."""
from __future__ import annotations

import pickle

from gespace.grammar import load_space
from search.contract import TrialSettings, TrialSpec, end_status, make_record
from search.records import CostFigures, TrialRecord


def spec(**fields) -> TrialSpec:
    point = load_space("spaces/fashion-demo.yaml").anchor("ge-theta")
    return TrialSpec(point, 3, "search", TrialSettings("/runs/c"), name="ge-theta", cost={"gmacs": 0.0312},
                     **fields)


def test_a_config_carries_one_spec_through_pickle():
    made = spec()
    config = made.config(order=7)
    shipped = TrialSpec.of(pickle.loads(pickle.dumps(config)))  # Ray ships configs pickled
    assert shipped == TrialSpec.of(config) and shipped.order == 7 and made.order is None
    assert shipped.unit == (made.point.id, 3) and shipped.point.id == made.point.id and shipped.exempt


def test_how_a_trial_ended_maps_to_one_status():
    assert end_status({"status": "ok"}) == "ok" and end_status({"status": "diverged"}) == "diverged"
    assert end_status({"status": "running"}) == "stopped" and end_status({}) == "stopped"
    assert end_status(None) == "stopped" and end_status({"status": "ok"}, error=True) == "failed"


def test_one_record_maker_for_the_store_and_the_searcher():
    history = [{"epoch": 1, "val_error": 0.30, "epoch_time": 2.0, "status": "running"},
               {"epoch": 2, "val_error": 0.25, "epoch_time": 3.0, "status": "running"}]
    stopped = make_record(spec(), history[-1], history, trial_id="t1")
    assert stopped.status == "stopped" and stopped.val_error == 0.25 and stopped.best_val_error == 0.25
    assert [e["epoch"] for e in stopped.epochs] == [1, 2] and stopped.train_time == 5.0
    assert stopped.cost == CostFigures(gmacs=0.0312) and stopped.point["ge.gather.op"] == "dwconv"
    assert stopped.name == "ge-theta" and stopped.trial_id == "t1"
    # Continued after a promotion: the earlier epochs and times come from the previous record.
    final = {"status": "ok", "val_error": 0.2, "test_error": 0.21, "epoch": 3, "train_time": 4.0,
             "history": [{"epoch": 3, "val_error": 0.2}], "time_total_s": 6.0}
    previous = TrialRecord.from_json({**stopped.to_json(), "wall_time": 7.0})
    whole = make_record(spec(continued=True), final, previous=previous, trial_id="t2")
    assert [e["epoch"] for e in whole.epochs] == [1, 2, 3] and whole.status == "ok" and whole.test_error == 0.21
    assert whole.train_time == 9.0 and whole.wall_time == 13.0 and whole.best_val_error == 0.2
    # A failure the trial did not report itself: the status and reason given win.
    failed = make_record(spec(), None, status="failed", reason="RuntimeError: boom")
    assert failed.status == "failed" and failed.reason == "RuntimeError: boom" and failed.val_error is None
