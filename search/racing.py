"""Racing a campaign's confirmation: seeds go where the answer is still open.

The race's points are the anchors and the confirmation's chosen points. In
rounds (looks) l = 0, 1, ..., every still-open point trains under the same next
seed, ``RACE_SEED + l``, fresh for the race, so pairing holds from the first
round. After a round is complete the race looks: with delta the indifference
margin (the spec's ``report: {equivalence_pp}``),

- a point is settled **off** the front when a point of no greater cost (every
  cost within its tolerance, `gespace.objectives.cost_tolerances`) is resolved
  better: the interval of their error difference lies below 0;
- a point is settled **on** the front when every point of no greater cost is
  shown not better than it by more than delta: each such interval lies above
  -delta (a point with no such competitor is on at once).

Settled points get no more seeds. The race ends when nothing is open, after the
declared number of looks, or when the next round would pass the budget of race
runs; the report lists what stayed open and the difference it would take seeds
to resolve.

**Error control over repeated looks.** Every settlement rests on an interval,
so a wrong one (off while no competitor is better; on while one is better by
more than delta) needs an interval that misses its true difference. The race
trains ``first_look`` rounds (3 seeds) before its first look, then looks after
every round, L looks declared. Look j (1..L) spends alpha j / (1 + ... + L) of
the error rate, split by Bonferroni over the m_j comparisons it makes: by the
union bound the probability that any interval at any look misses, and so that
the race settles anything wrongly, is at most alpha (5%), however the looks
fall and whatever stops the race. Spending in proportion to j keeps early
looks, on few seeds, from using up alpha that later, narrower ones need
(O'Brien-Fleming's idea, without the correlation of successive looks that
their boundaries use: this is conservative, and `bench/racing.py` measures what
it costs). The intervals a raced campaign prints are these, never fixed-n ones.
Each interval is `search.verdicts`' pair test (the blocked model over the runs'
shared seeds, or image by image where the records carry per-image bits).

Runs: the race points' confirmation runs (any earlier fixed seeds included) and
the anchors' full-budget search runs; a chosen point's search run is left out
(the search selected it). The race judges test error, which nothing selected on.

Resumable: a round is a set of (point, seed) units, each trained once; the race
state is recomputed from the records at every start, so a killed campaign goes
on where it stopped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from gespace.objectives import cost_tolerances
from search.records import CONFIRM, OK, SEARCH, TrialRecord
from search.statistics import record_bits
from search.verdicts import Experiment, Verdict, adjusted

RACE_SEED = 2000  # the first race round's seed (search seeds start at 0, fixed confirmation ones at 1000)
OPEN, ON, OFF = "open", "on", "off"


@dataclass(frozen=True)
class RaceSettings:
    """What a race runs with (campaign.json keeps it, so --resume races the same race)."""

    delta: float  # indifference margin, a fraction of error
    looks: int = 10  # declared number of looks; alpha is spent over them, in proportion to 1, 2, 3, ...
    alpha: float = 0.05
    budget: int | None = None  # most race runs, all rounds together
    metric: str = "test"  # "test" or "val": which error the race judges
    first_look: int = 3  # rounds before the first look: with fewer seeds no interval could settle anything

    @property
    def rounds(self) -> int:
        return self.first_look - 1 + self.looks

    def spent(self, look: int) -> float:
        """The error rate look ``look`` (0-based) spends: alpha in proportion to look + 1, so early
        looks, on few seeds, spend little and the total over the declared looks is alpha."""
        return self.alpha * (look + 1) / (self.looks * (self.looks + 1) / 2)


def race_rules(race_delta: float | None, equivalence_pp: float | None, looks: int = 10,
               budget: int | None = None) -> RaceSettings:
    """A race's settings from the campaign's (--race-delta, --race-looks, --race-budget) and its
    spec's report.equivalence_pp; ValueError (one line) without a margin."""
    margin = race_delta or equivalence_pp
    if not margin:
        raise ValueError("--race needs an indifference margin: --race-delta PP, or report: {equivalence_pp: PP} in "
                         "the spec (e.g. 0.3)")
    return RaceSettings(margin / 100, looks, budget=budget)


@dataclass
class Look:
    """One round: its seed, the points it trained, the comparisons it made and what it settled."""

    seed: int
    trained: list[str]
    level: float  # each interval's error rate: the look's share of alpha over its comparisons
    verdicts: list[Verdict] = field(default_factory=list)
    settled: dict[str, str] = field(default_factory=dict)  # point -> on / off


@dataclass
class RaceState:
    status: dict[str, str]  # point -> open / on / off
    looks: list[Look]
    next_units: list[tuple[str, int]]  # to train now ([] when the race is over)
    end: str | None  # why it is over: "settled", "looks", "budget"; None while it goes on
    runs: int  # race runs trained so far

    @property
    def open(self) -> list[str]:
        return [p for p, s in self.status.items() if s == OPEN]


def race_runs(records: Sequence[TrialRecord], points: Sequence[str]) -> list[TrialRecord]:
    """The runs a race judges its points on (module doc)."""
    wanted = set(points)
    return [r for r in records if r.id in wanted and r.status == OK
            and (r.phase == CONFIRM or (r.phase == SEARCH and r.name))]


def competitors(point: str, points: Sequence[str], costs: Mapping[str, Mapping[str, float]],
                tolerance: Mapping[str, float] | None = None) -> list[str]:
    """The other points of no greater cost than ``point``: every cost within its tolerance."""
    tolerances = cost_tolerances(tolerance)
    mine = costs[point]
    return [q for q in points if q != point
            and all(costs[q][c] <= mine[c] * (1 + tolerances[c]) for c in mine)]


def race(points: Sequence[str], costs: Mapping[str, Mapping[str, float]], records: Sequence[TrialRecord],
         settings: RaceSettings, tolerance: Mapping[str, float] | None = None) -> RaceState:
    """Replay the race's looks on ``records`` and say what to train next (module doc).

    ``costs``: point -> cost objective -> value. Deterministic in the records: a resumed
    campaign recomputes the same looks and goes on from the first incomplete round.
    """
    status = {p: OPEN for p in points}
    done = {(r.id, r.seed) for r in records}  # any end but an interruption: never trained twice
    runs = sum(1 for r in records if r.id in status and r.seed is not None and r.seed >= RACE_SEED)
    looks: list[Look] = []
    for index in range(settings.rounds):
        seed = RACE_SEED + index
        open_points = [p for p in points if status[p] == OPEN]
        if not open_points:
            return RaceState(status, looks, [], "settled", runs)
        missing = [p for p in open_points if (p, seed) not in done]
        if missing:
            if settings.budget is not None and runs + len(missing) > settings.budget:
                return RaceState(status, looks, [], "budget", runs)
            return RaceState(status, looks, [(p, seed) for p in missing], None, runs)
        if index >= settings.first_look - 1:
            looks.append(_look(len(looks), seed, open_points, points, costs, records, settings, tolerance, status))
    end = "settled" if all(s != OPEN for s in status.values()) else "looks"
    return RaceState(status, looks, [], end, runs)


def _look(index: int, seed: int, open_points: list[str], points: Sequence[str], costs: Mapping[str, Mapping[str, float]],
          records: Sequence[TrialRecord], settings: RaceSettings, tolerance: Mapping[str, float] | None,
          status: dict[str, str]) -> Look:
    """Analyse the runs up to this round's seed, and settle what the intervals allow."""
    seen = [r for r in race_runs(records, points) if r.seed is None or r.seed < RACE_SEED or r.seed <= seed]
    groups: dict[str, list[TrialRecord]] = {}
    for r in seen:
        groups.setdefault(r.id, []).append(r)
    value = (lambda r: r.test_error) if settings.metric == "test" else (lambda r: r.val_error)
    experiment = Experiment({p: {r.seed: value(r) for r in group if value(r) is not None}
                             for p, group in groups.items()},
                            bits={p: record_bits(group, settings.metric) for p, group in groups.items()})
    pairs = [(q, p) for p in open_points for q in competitors(p, points, costs, tolerance)
             if p in experiment.runs and q in experiment.runs]
    level = settings.spent(index) / max(1, len(pairs))
    verdicts = adjusted([experiment.pair(q, p) for q, p in pairs], "none", settings.delta, alpha=level)
    look = Look(seed, open_points, level, verdicts)
    by_point: dict[str, list[Verdict]] = {p: [] for p in open_points}
    for verdict in verdicts:
        by_point[verdict.test.reference].append(verdict)
    for p in open_points:
        against = by_point[p]
        if any(v.interval is not None and v.interval[1] < 0 for v in against):
            look.settled[p] = OFF
        elif all(v.interval is not None and v.interval[0] > -settings.delta for v in against):
            look.settled[p] = ON
    status.update(look.settled)
    return look


def seeds_to_settle(verdict: Verdict, delta: float) -> int | None:
    """About how many race seeds a point would need for this comparison to settle it: the seeds
    at which the interval's half-width falls below the distance of its estimate from the nearer
    boundary (0 to settle off, -delta to settle on), at the same level."""
    if verdict.interval is None or not verdict.test.stderr:
        return None
    half = verdict.interval[1] - verdict.test.estimate
    room = max(-verdict.test.estimate, verdict.test.estimate + delta)  # to settle off, or on
    return max(1, math.ceil(verdict.test.runs * (half / room) ** 2))
