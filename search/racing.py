"""Racing a campaign's confirmation: seeds go where the answer is still open.

The race's points are the anchors and the confirmation's chosen points. In
rounds r = 1, 2, ..., the points in play train under the same next seed,
``RACE_SEED + r - 1``, fresh for the race, so pairing holds from the first
round. At a look, with delta the indifference margin (the spec's ``report:
{equivalence_pp}``) and competitors the other points of no greater cost (every
cost within its tolerance, `gespace.objectives.cost_tolerances`):

- a point is settled **off** the front when a competitor is resolved better
  (the upper bound of their error difference lies below 0);
- a point is settled **on** the front when every competitor is shown not
  better than it by more than delta (each lower bound lies above -delta; a
  bound that cleared -delta at an earlier look stays cleared). A point with
  no competitor is on at once.

Settled points get no more seeds, except while an open point still waits on a
comparison with them (a lower bound not yet cleared): without their seeds that
comparison could never narrow below their own frozen noise. The race ends when
nothing is open, after its declared rounds, or before a round that would pass
the budget of race runs; the report lists what stayed open and about the seeds
it would take.

**Error control over repeated looks.** The race looks after every round from
``first_look`` (3 seeds) to its declared last. A settlement is wrong when a
point is set off while no competitor is truly better, or on while a competitor
is truly better by more than delta. For each point at most one of the two can
happen (the first needs it to be truly best among its competitors, the second a
competitor truly better by more than delta), so each point gets one error
budget alpha / n (n race points, fixed before the race):

- a wrong **on** needs the lower bound against one particular competitor, one
  truly better by more than delta, to clear -delta at some look: so each lower
  bound spends the point's whole budget, with no split over competitors (an
  intersection-union test);
- a wrong **off** needs the upper bound against any of the point's c
  competitors to fall below 0: each upper bound spends the budget over c.

Each budget is spread over the looks by a group-sequential boundary
(`search.sequential`): one z for every look such that a comparison's
statistic, a Brownian motion over the rounds, ever crosses it with probability
at most the budget (Pocock's constant boundary; successive looks share most of
their data, so this is far below Bonferroni over looks: 3.44 against 3.75 for a
point's 0.25% over 28 looks). Where a comparison gains information more slowly
than one round a round (a competitor that stopped, seeds from before the race),
its looks are more correlated and the crossing less likely (Slepian's
inequality): the bound holds. The t statistics of the pair tests are judged at
the boundary's one-sided level. Summed over points, the chance that the race
settles anything wrongly is at most alpha (5%), whatever stops the race. The
intervals a raced campaign prints are these bounds (lower and upper at their
own levels), never fixed-n ones; each comes from `search.verdicts`' pair test
(the blocked model over the runs' shared seeds, or image by image where the
records carry per-image bits). `bench/racing.py` measures runs and wrong
settlements against fixed seeds on simulated campaigns.

**Against a control** (``race(..., control=ANCHOR)``: an ablation, every
one-knob change against its anchor). Each change's difference from the anchor
gets a two-sided interval, each side one-sided at alpha / (2m) over the looks
(m changes; Pocock's boundary as above), and the change is settled **better**
when the interval lies below 0, **worse** when above, **equal** when inside
+-delta; a wrong settlement needs one side to miss, so the chance of any is at
most alpha. The anchor trains while any change is open. Every run of the
points counts (nothing selected them).

Runs: the race points' confirmation runs (any earlier fixed seeds included, analysed
as unpaired) and the anchors' full-budget search runs; a chosen point's search run is
left out (the search selected it). The race judges test error, which nothing selected on.

Resumable: a round is a set of (point, seed) units, each trained once; the race
state is recomputed from the records at every start, so a killed campaign goes
on where it stopped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from scipy import stats

from gespace.objectives import cost_tolerances
from search.records import CONFIRM, OK, SEARCH, TrialRecord
from search.sequential import constant_boundary
from search.statistics import record_bits
from search.verdicts import BETTER, UNRESOLVED, WORSE, Experiment, PairTest, Verdict, interval_verdict

RACE_SEED = 2000  # the first race round's seed (search seeds start at 0, fixed confirmation ones at 1000)
OPEN, ON, OFF = "open", "on", "off"
EQUAL = "equal"  # a change settled within the margin of its control (a race against a control)
RACE = "race (search.racing)"  # the procedure behind a race verdict


@dataclass(frozen=True)
class RaceSettings:
    """What a race runs with (campaign.json keeps it, so --resume races the same race)."""

    delta: float  # indifference margin, a fraction of error
    rounds: int = 30  # declared rounds: the most race seeds a point gets
    alpha: float = 0.05
    budget: int | None = None  # most race runs, all rounds together
    hours: float | None = None  # most core-hours of race runs (cores x wall time), all rounds together
    cpus: float = 1.0  # cores a run holds
    metric: str = "test"  # "test" or "val": which error the race judges
    first_look: int = 3  # rounds before the first look: with fewer seeds no interval could settle anything

    @property
    def look_rounds(self) -> tuple[int, ...]:
        """The rounds after which the race looks: every one from ``first_look`` to the last."""
        return tuple(range(min(self.first_look, self.rounds), self.rounds + 1))

    def boundary(self, alpha: float) -> float:
        """The z every look's bound uses so that, over the declared looks, it misses with probability
        at most ``alpha`` (Pocock's constant boundary, `search.sequential`)."""
        return constant_boundary(self.look_rounds, alpha)


def race_rules(race_delta: float | None, equivalence_pp: float | None, rounds: int | None = None,
               budget: int | None = None, hours: float | None = None, cpus: float = 1.0) -> RaceSettings:
    """A race's settings from the campaign's (--race-delta, --race-rounds, --race-budget,
    --race-hours, --cpus-per-trial) and its spec's report.equivalence_pp; ValueError (one line)
    without a margin."""
    margin = race_delta or equivalence_pp
    if not margin:
        raise ValueError("--race needs an indifference margin: --race-delta PP, or report: {equivalence_pp: PP} in "
                         "the spec (e.g. 0.3)")
    return RaceSettings(margin / 100, rounds or RaceSettings.rounds, budget=budget, hours=hours, cpus=cpus)



@dataclass
class Look:
    """One look: after which round (its seed), the points that round trained, each comparison's
    bounds at the look's levels, and what it settled."""

    seed: int
    trained: list[str]
    level: float  # each lower bound's one-sided error rate at this look (upper bounds': lower; against a
    # control, both bounds': module doc)
    verdicts: list[Verdict] = field(default_factory=list)
    settled: dict[str, str] = field(default_factory=dict)  # point -> on / off (against a control: better / worse / equal)


@dataclass
class RaceState:
    status: dict[str, str]  # point -> open / on / off (against a control: better / worse / equal; the control on)
    looks: list[Look]
    next_units: list[tuple[str, int]]  # to train now ([] when the race is over)
    end: str | None  # why it is over: "settled", "rounds", "budget"; None while it goes on
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
         settings: RaceSettings, tolerance: Mapping[str, float] | None = None,
         control: str | None = None) -> RaceState:
    """Replay the race's looks on ``records`` and say what to train next (module doc): for the
    front, or (``control``) each other point against that one.

    ``costs``: point -> cost objective -> value. Deterministic in the records: a resumed
    campaign recomputes the same looks and goes on from the first incomplete round.
    """
    status = {p: OPEN for p in points}
    if control is None:
        rivals = {p: competitors(p, points, costs, tolerance) for p in points}
    else:  # the control is the reference, never settled; every other point is compared with it alone
        rivals = {p: [] if p == control else [control] for p in points}
        status[control] = ON
    cleared: set[tuple[str, str]] = set()  # (competitor, point): shown not better by more than delta
    done = {(r.id, r.seed) for r in records}  # any end but an interruption: never trained twice
    runs = sum(1 for r in records if r.id in status and r.seed is not None and r.seed >= RACE_SEED)
    looks: list[Look] = []
    look_rounds = settings.look_rounds
    for index in range(settings.rounds):
        seed = RACE_SEED + index
        open_points = [p for p in points if status[p] == OPEN]
        if not open_points:
            return RaceState(status, looks, [], "settled", runs)
        waited_on = {q for p in open_points for q in rivals[p] if (q, p) not in cleared}
        playing = [p for p in points if status[p] == OPEN or p in waited_on]
        missing = [p for p in playing if (p, seed) not in done]
        if missing:
            if (settings.budget is not None and runs + len(missing) > settings.budget
                    or settings.hours is not None and _passes_hours(records, points, len(missing), settings)):
                return RaceState(status, looks, [], "budget", runs)
            return RaceState(status, looks, [(p, seed) for p in missing], None, runs)
        if index + 1 in look_rounds:
            looks.append(_look(seed, playing, open_points, rivals, records, settings, cleared, status)
                         if control is None else _control_look(seed, playing, open_points, control, records,
                                                               settings, status))
    end = "settled" if all(s != OPEN for s in status.values()) else "rounds"
    return RaceState(status, looks, [], end, runs)


def _passes_hours(records: Sequence[TrialRecord], points: Sequence[str], units: int, settings: RaceSettings) -> bool:
    """Whether ``units`` more runs, each as long as the race points' runs so far on average, would
    take the race's runs past ``settings.hours`` core-hours."""
    wanted = set(points)
    race_times = [r.wall_time or 0.0 for r in records if r.id in wanted and r.seed is not None and r.seed >= RACE_SEED]
    times = [r.wall_time for r in records if r.id in wanted and r.wall_time] or [0.0]
    spent = settings.cpus * sum(race_times) / 3600
    return spent + settings.cpus * units * sum(times) / len(times) / 3600 > settings.hours


def _experiment(runs: Sequence[TrialRecord], metric: str) -> Experiment:
    """The blocked experiment a look judges: each point's runs by seed, with their per-image bits."""
    value = (lambda r: r.test_error) if metric == "test" else (lambda r: r.val_error)
    groups: dict[str, list[TrialRecord]] = {}
    for r in runs:
        groups.setdefault(r.id, []).append(r)
    return Experiment({p: {r.seed: value(r) for r in group if value(r) is not None} for p, group in groups.items()},
                      bits={p: record_bits(group, metric) for p, group in groups.items()})


def _look(seed: int, trained: list[str], open_points: list[str], rivals: Mapping[str, list[str]],
          records: Sequence[TrialRecord], settings: RaceSettings, cleared: set[tuple[str, str]],
          status: dict[str, str]) -> Look:
    """Analyse the runs up to this round's seed, and settle what the bounds allow (module doc)."""
    points = list(rivals)
    experiment = _experiment([r for r in race_runs(records, points)
                              if r.seed is None or r.seed < RACE_SEED or r.seed <= seed], settings.metric)
    budget = settings.alpha / len(points)  # each point's, over every look
    level = float(stats.norm.sf(settings.boundary(budget)))
    look = Look(seed, trained, level)
    for p in open_points:
        against = [q for q in rivals[p] if p in experiment.runs and q in experiment.runs]
        upper = float(stats.norm.sf(settings.boundary(budget / max(1, len(against)))))
        verdicts = [race_verdict(experiment.pair(q, p, check=False), level, upper, settings.delta)
                    for q in against]
        look.verdicts += verdicts
        cleared.update((v.test.point, p) for v in verdicts if v.interval and v.interval[0] > -settings.delta)
        if any(v.interval and v.interval[1] < 0 for v in verdicts):
            look.settled[p] = OFF
        elif all((q, p) in cleared for q in rivals[p]):
            look.settled[p] = ON
    status.update(look.settled)
    return look


def _control_look(seed: int, trained: list[str], open_points: list[str], control: str,
                  records: Sequence[TrialRecord], settings: RaceSettings, status: dict[str, str]) -> Look:
    """A look of a race against a control: each open point minus the control, two-sided (module doc)."""
    experiment = _experiment([r for r in records if r.id in status and r.status == OK and r.seed is not None
                              and r.seed <= seed], settings.metric)
    level = float(stats.norm.sf(settings.boundary(settings.alpha / (2 * (len(status) - 1)))))
    look = Look(seed, trained, level)
    for p in open_points:
        if p not in experiment.runs or control not in experiment.runs:
            continue
        verdict = race_verdict(experiment.pair(p, control, check=False), level, level, settings.delta)
        look.verdicts.append(verdict)
        if verdict.interval is None:
            continue
        settled = interval_verdict(*verdict.interval, settings.delta)
        if settled:
            look.settled[p] = settled if settled in (BETTER, WORSE) else EQUAL
    status.update(look.settled)
    return look


def race_verdict(test: PairTest, lower_level: float, upper_level: float, delta: float) -> Verdict:
    """A race comparison (competitor minus point): its lower bound one-sided at ``lower_level``,
    its upper bound at ``upper_level`` (module doc), and what they say."""
    if test.stderr is None:
        return Verdict(test, RACE, None, None, f"{UNRESOLVED} (noise unknown)")
    low = test.estimate - test.critical(2 * lower_level) * test.stderr
    high = test.estimate + test.critical(2 * upper_level) * test.stderr
    return Verdict(test, RACE, None, (low, high), interval_verdict(low, high, delta) or UNRESOLVED)


def seeds_to_settle(verdict: Verdict, delta: float) -> int | None:
    """About how many race seeds a point would need for this comparison to settle it: the seeds at
    which the bound nearer to settling (the upper one to 0, to settle off; the lower one to -delta,
    to settle on) would clear, at the same level."""
    if verdict.interval is None or not verdict.test.stderr:
        return None
    low, high = verdict.interval
    estimate = verdict.test.estimate
    needed = []
    if estimate < 0:
        needed.append((high - estimate) / -estimate)
    if estimate > -delta:
        needed.append((estimate - low) / (estimate + delta))
    if not needed:
        return None
    return max(1, math.ceil(verdict.test.runs * min(needed) ** 2))
