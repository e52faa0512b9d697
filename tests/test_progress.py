"""The campaign's live view, rendered at 80 columns from hand-made states, and its log line."""
from __future__ import annotations

import io

from rich.console import Console

from search.progress import CampaignState, Running, plain_line, render
from search.records import CostFigures, TrialRecord

LONG = {"ge.placement.stages": (2, 3, 4), "ge.gather.op": "dwconv", "ge.gather.extent": 4,
        "ge.excite.interp": "bilinear", "ge.excite.gate": "hard_sigmoid", "ge.excite.mlp": "se",
        "ge.excite.reduction": 16}


def state() -> CampaignState:
    def done(pid, seed, error, name=None, finished=100.0):
        return TrialRecord(id=pid, status="ok", point={"ge.placement.stages": ()}, name=name, seed=seed,
                           cost=CostFigures(gmacs=0.031), val_error=error, budget=3, train_time=50.0, setup_time=10.0,
                           finished_at=finished, epochs=[{"epoch": e, "val_error": error, "images_per_s": 400.0}
                                                        for e in (1, 2, 3)])

    records = [done("b", 0, 0.30, "baseline", 100.0), done("b", 1, 0.32, "baseline", 110.0),
               done("t", 0, 0.27, "ge-theta", 120.0)]
    running = [Running("dwconv e=4, bilinear, hard sigmoid, SE r=16, stages 2,3,4", 0, 2, 3, 0.4512, 812.4),
               Running("GE-θ⁺", 1, 1, 3, None, None)]
    return CampaignState("demo", "search", 754.0, records, running, trials_left=4, concurrency=2)


def rendered(width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(render(state()))
    return out.getvalue()


def test_live_view_fits_80_columns_with_every_key_column():
    text = rendered()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "point" in line and "seed" in line)
    for column in ("point", "seed", "epoch", "val err %", "img/s", "status"):
        assert column in header
    # The long label is shortened, the numbers are whole.
    assert "dwconv e=4, bilinear" in text and "stages" not in text
    assert "45.12" in text and "812" in text and "2/3" in text and "running" in text
    # The last finished trials, newest first, with their status.
    rows = [line for line in lines if "ok" in line.split()]
    assert [("GE-θ" in rows[0]), ("Baseline" in rows[1])] == [True, True] and len(rows) == 3


def test_summary_eta_noise_and_front():
    current = state()
    # A full trial took 60 s: 4 queued + 1/3 + 2/3 of the running ones = 5 trials over 2 slots = 150 s.
    assert current.eta() == 150.0
    summary = current.summary()
    assert summary.startswith("demo search, 12m34s elapsed, ETA 2m30s, 3 done, 2 running")
    assert "noise ±1.41 pp" in summary and "front 1" in summary  # std(.30, .32) = 1.41 pp
    line = plain_line(current)
    assert "dwconv e=4, bilinear, hard s0 2/3" in line and "GE-θ⁺ s1 1/3" in line and "\n" not in line
