"""Which knobs matter: each knob value's effect against the space's default, with intervals.

One linear model over a campaign's full-budget runs (`knob_effects`):

    error = intercept + sum over knobs of (the knob's level) + seed + noise

Every knob that takes more than one level among the runs is a factor, coded
against its reference level (the space's default, where runs hold it); a knob
that is inactive for a point (the interpolation at a global extent, every GE
knob of the baseline) is a level of its own, ``inactive``. Seeds are blocks,
as in the verdicts' blocked model. A level the data cannot separate from the
others (``inactive`` interpolation is exactly the global extent) is said so and
left out. Each level's coefficient is its difference from the reference with
the other knobs held; the knob's values are one family, adjusted by Holm
(statsmodels' `multipletests`, through `search.verdicts.adjusted`, whose
intervals agree with the verdicts). Interactions of two knobs are tested where
the data hold them (the product terms add columns the main effects do not
span, and residual degrees of freedom remain): an F test of the model with the
pair's interaction against the model without (statsmodels'
`compare_f_test`), Holm over the pairs tested. Costs get the same main-effects
model on their logarithm, read as percent changes (costs have no seed noise:
their residual is only how far they are from additive).

Beside it, PED-ANOVA's importance (Optuna's `PedAnovaImportanceEvaluator`) on
the same runs, one trial per point (its mean error), as a cross-check that
needs no model; it has no intervals and knows nothing of seeds.

Caveats the user needs: levels with fewer than ``MIN_POINTS`` points, and a
campaign whose full-budget points were not drawn uniformly (a model-based
searcher, or early stopping that promoted the better points: the effects are
then among the points the search kept, and knobs correlate by selection).
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from gespace.grammar import Space
from search.records import OK, TrialRecord
from search.verdicts import UNRESOLVED, PairTest, Verdict, adjusted

INACTIVE = "inactive"
MIN_POINTS = 3  # fewer points at a level: its effect rests on too few designs to generalise
UNIFORM_SEARCHERS = ("random", "sobol", "grid", "ablation")


@dataclass(frozen=True)
class LevelEffect:
    """One knob level against the knob's reference: the verdict (Holm over the knob's levels) and
    the cost changes in percent."""

    knob: str
    level: str
    reference: str
    points: int  # distinct points at this level
    verdict: Verdict
    costs: dict[str, float] = field(default_factory=dict)  # cost objective -> percent change


@dataclass(frozen=True)
class Interaction:
    knob: str
    other: str
    df: int  # columns the interaction adds
    p: float
    p_adjusted: float


@dataclass
class Effects:
    """What `knob_effects` finds; `effects_lines` and the CLI print it."""

    metric: str
    runs: int
    points: int
    sigma: float
    df: int
    levels: list[LevelEffect]
    unseparable: list[str]  # 'knob=level' the data cannot tell from the other knobs' levels
    interactions: list[Interaction]
    untested_pairs: int
    jointly: bool  # interactions tested each given every other pair's (else one pair at a time)
    importance: dict[str, float] | None
    caveats: list[str]


def level_of(space: Space, key: str, point: Mapping[str, Any]) -> str:
    """The knob's level at a point: its value as text, or ``inactive``."""
    if key not in point or not space.is_active(key, point):
        return INACTIVE
    return _text(point[key])


def _text(value: Any) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else str(value)


def knob_effects(space: Space, records: Sequence[TrialRecord], metric: str = "val_error",
                 costs: Sequence[str] = ("gmacs", "params_m"), margin: float | None = None,
                 searcher: str = "random", scheduler: str = "none") -> Effects:
    """The effects of every knob that varies among the full-budget runs (module doc)."""
    import statsmodels.api as sm

    runs = [r for r in records if r.status == OK and r.budget and r.epochs_done >= r.budget
            and _value(r, metric) is not None]
    if not runs:
        raise ValueError(f"no full-budget run has a {metric.replace('_', ' ')}")
    points = {r.id: space.canonical_values(r.point) for r in runs}
    # The knobs the spec lets vary (a derived one, such as the gather depth, follows another).
    knobs = [k for k in space.order if space.knobs[k].declared and len(space.knobs[k].domain.values() or [0, 0]) > 1
             and len({level_of(space, k, p) for p in points.values()}) > 1]
    levels = {k: {pid: level_of(space, k, p) for pid, p in points.items()} for k in knobs}
    references = {k: _reference(space, k, levels[k]) for k in knobs}
    y = np.array([_value(r, metric) for r in runs], dtype=float)

    columns: list[tuple[str, np.ndarray]] = [("intercept", np.ones(len(runs)))]
    seeds = sorted({r.seed for r in runs}, key=repr)
    columns += [(f"seed={s}", np.array([r.seed == s for r in runs], float)) for s in seeds[1:]]
    main = [(f"{k}={v}", np.array([levels[k][r.id] == v for r in runs], float))
            for k in knobs for v in sorted(set(levels[k].values())) if v != references[k]]
    design, names, dropped = _independent(columns, main)
    fit = sm.OLS(y, design).fit()

    effects: list[LevelEffect] = []
    cost_fits = {c: _log_fit(runs, design, c) for c in costs}
    for k in knobs:
        kept = [n for n in names if n.startswith(f"{k}=")]
        tests = [PairTest(n, f"{k}={references[k]}", float(fit.params[names.index(n)]),
                          float(fit.bse[names.index(n)]) if fit.df_resid > 0 else None, float(fit.df_resid), (),
                          "linear model (knobs + seed)") for n in kept]
        for test, verdict in zip(tests, adjusted(tests, "holm", margin)):
            if verdict.verdict.startswith(UNRESOLVED):  # its "seeds a point" reads points, not levels of a model
                verdict = replace(verdict, verdict=UNRESOLVED)
            level = test.point.split("=", 1)[1]
            effects.append(LevelEffect(
                k, level, references[k], sum(v == level for v in levels[k].values()), verdict,
                {c: 100 * math.expm1(params[names.index(test.point)]) for c, params in cost_fits.items()
                 if params is not None}))

    interactions, untested, jointly = _interactions(sm, y, design, names, knobs, fit)
    caveats = [f"{e.knob}={e.level}: {e.points} point{'s' if e.points != 1 else ''} (fewer than {MIN_POINTS}): "
               "its effect rests on too few designs" for e in effects if e.points < MIN_POINTS]
    if searcher not in UNIFORM_SEARCHERS:
        caveats.append(f"the {searcher} searcher chose points by their errors: knobs correlate by selection, "
                       "so an effect may belong to a knob it travelled with")
    if scheduler != "none":
        caveats.append(f"early stopping ({scheduler}) promoted the better points to the full budget: the effects "
                       "are among the points the search kept, not over the space")
    return Effects(metric, len(runs), len(points), float(np.sqrt(fit.scale)) if fit.df_resid > 0 else float("nan"),
                   int(fit.df_resid), effects, dropped, interactions, untested, jointly,
                   _importance(runs, levels, metric), caveats)


def _value(record: TrialRecord, metric: str) -> float | None:
    return record.test_error if metric == "test_error" else record.objective(metric)


def _reference(space: Space, key: str, levels: Mapping[str, str]) -> str:
    """The space's default as a level, where points hold it; else the commonest level."""
    present = list(levels.values())
    default = space.knobs[key].default
    if default is not None and _text(default) in present:
        return _text(default)
    return max(sorted(set(present)), key=present.count)


def _independent(base: list[tuple[str, np.ndarray]], extra: list[tuple[str, np.ndarray]]
                 ) -> tuple[np.ndarray, list[str], list[str]]:
    """The base columns, then each extra one that the columns before it do not span (by rank)."""
    kept, names, dropped = [c for _, c in base], [n for n, _ in base], []
    rank = np.linalg.matrix_rank(np.column_stack(kept))
    for name, column in extra:
        trial = np.column_stack(kept + [column])
        if np.linalg.matrix_rank(trial) > rank:
            kept.append(column)
            names.append(name)
            rank += 1
        else:
            dropped.append(name)
    return np.column_stack(kept), names, dropped


def _log_fit(runs: Sequence[TrialRecord], design: np.ndarray, cost: str) -> np.ndarray | None:
    values = [r.objective(cost) for r in runs]
    if any(v is None or v <= 0 for v in values):
        return None
    params, *_ = np.linalg.lstsq(design, np.log(np.array(values, float)), rcond=None)
    return params


def _interactions(sm: Any, y: np.ndarray, design: np.ndarray, names: list[str], knobs: list[str], fit: Any
                  ) -> tuple[list[Interaction], int, bool]:
    """F tests of each pair of knobs' interaction where the data hold one, Holm over those tested;
    whether they were tested jointly (each given every other pair's) or, the joint model having no
    residual degrees of freedom, one pair at a time."""
    from statsmodels.stats.multitest import multipletests

    kept = {n: design[:, names.index(n)] for n in names}
    products = {}
    for a, b in itertools.combinations(knobs, 2):
        products[(a, b)] = [(f"{na}*{nb}", kept[na] * kept[nb]) for na in kept if na.startswith(f"{a}=")
                            for nb in kept if nb.startswith(f"{b}=")]
    joint, joint_names, _ = _independent(list(zip(names, design.T)), [c for cs in products.values() for c in cs])
    jointly = joint.shape[0] - joint.shape[1] >= 1
    full_fit = sm.OLS(y, joint).fit() if jointly else None
    tested, untested = [], 0
    for (a, b), columns in products.items():
        mine = {n for n, _ in columns} & set(joint_names)
        if jointly and mine:  # this pair's terms against the model with every other pair's
            without = [k for k, n in enumerate(joint_names) if n not in mine]
            f_value, p, df = full_fit.compare_f_test(sm.OLS(y, joint[:, without]).fit())
        elif not jointly:
            alone, alone_names, _ = _independent(list(zip(names, design.T)), columns)
            if alone.shape[1] == design.shape[1] or alone.shape[0] - alone.shape[1] < 1:
                untested += 1
                continue
            f_value, p, df = sm.OLS(y, alone).fit().compare_f_test(fit)
        else:
            untested += 1
            continue
        tested.append((a, b, int(df), float(p)))
    if not tested:
        return [], untested, jointly
    p_adjusted = multipletests([t[3] for t in tested], method="holm")[1]
    return [Interaction(a, b, df, p, float(q)) for (a, b, df, p), q in zip(tested, p_adjusted)], untested, jointly


def _importance(runs: Sequence[TrialRecord], levels: Mapping[str, Mapping[str, str]], metric: str
                ) -> dict[str, float] | None:
    """PED-ANOVA importance over the points (their mean error), active levels only."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    by_point: dict[str, list[float]] = {}
    for r in runs:
        by_point.setdefault(r.id, []).append(_value(r, metric))
    if len(by_point) < 4 or not levels:
        return None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="minimize")
    choices = {k: sorted(set(v.values()) - {INACTIVE}) for k, v in levels.items()}
    for pid, values in by_point.items():
        params = {k: levels[k][pid] for k in levels if levels[k][pid] != INACTIVE}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: CategoricalDistribution(choices[k]) for k in params},
            value=float(np.mean(values))))
    try:
        with warnings.catch_warnings():  # "regimes with fewer than 2 trials": the caveats say it once
            warnings.simplefilter("ignore", UserWarning)
            return dict(get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()))
    except (ValueError, RuntimeError):  # too few trials above its quantile: no estimate
        return None
