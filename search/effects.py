"""Which knobs matter: each knob value's effect against the space's default, with intervals.

One linear model over a campaign's full-budget runs (`knob_effects`):

    error = intercept + sum over knobs of (the knob's level) + seed + noise

Every knob that takes more than one level among the runs is a factor, coded
against its reference level (the space's default, where runs hold it; else its
commonest active level); a knob that is inactive for a point (the interpolation
at a global extent, every GE knob of the baseline) is a level of its own,
``inactive``. A continuous knob whose values do not repeat (one a point) is no
factor: it would take a column a point. Seeds are blocks, as in the verdicts'
blocked model. A level the data cannot separate from the others (``inactive``
interpolation is exactly the global extent) is said so, with what it equals,
and left out. Each level's coefficient is its difference from the reference
with the other knobs held at theirs (the reference cell); the knob's values
are one family, adjusted by Holm (statsmodels' `multipletests`, through
`search.verdicts.adjusted`, whose intervals agree with the verdicts).

The error the contrasts are judged against: the points are the designs and a
point's seeds repeat one design, so where the model leaves the point means
unexplained (lack of fit: more points than knob levels) the error is that
between-point variation, on its degrees of freedom, as the nested design's
textbook analysis takes it (the seeds' own scatter would be too small by how
far points depart from additivity); where the model fits every point (an
ablation: each point is a level) it is the seeds' scatter about the points.
The lack-of-fit F test against the seeds' scatter is reported.

Interactions of two knobs are tested where the data hold them (the product
terms add columns the main effects do not span, and an error df remains): an F
test of the model with the pair's interaction against the model without,
against the same error, Holm over the pairs tested. Costs get the same
main-effects model on their logarithm, read as percent changes (costs have no
seed noise: their residual is only how far they are from additive).

Beside it, PED-ANOVA's importance (Optuna's `PedAnovaImportanceEvaluator`) on
the same runs, one trial per point (its mean error), as a cross-check that
needs no model; it has no intervals and knows nothing of seeds.

Caveats the user needs: levels (references included) with fewer than
``MIN_POINTS`` points, continuous knobs left out, and a campaign whose
full-budget points were not drawn uniformly (a model-based searcher, early
stopping that promoted the better points, a race that stopped adding seeds to
a point once it settled).
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from gespace.grammar import Space, value_text
from search.records import TrialRecord
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
    against_points: bool = True  # its F's error: the point means' departure (else the seeds' scatter)


@dataclass(frozen=True)
class LackOfFit:
    """How far the point means depart from the additive model, against the seeds' scatter."""

    f: float
    df: int
    df_seeds: int
    p: float


@dataclass
class Effects:
    """What `knob_effects` finds; `effects_lines` and the CLI print it."""

    metric: str
    runs: int
    points: int
    sigma: float  # the error's SD (module doc: between points, or between a point's seeds)
    df: int
    between_points: bool  # the error is the point means' departure from the model (else the seeds' scatter)
    lack_of_fit: LackOfFit | None
    references: dict[str, tuple[str, bool]]  # knob -> its reference level, and whether the space's default
    levels: list[LevelEffect]
    unseparable: list[str]  # 'knob=level (= what it equals)' the data cannot tell from other columns
    interactions: list[Interaction]
    untested_pairs: int
    jointly: bool  # interactions tested each given every other pair's (else one pair at a time)
    importance: dict[str, float] | None
    caveats: list[str]


def varied_knobs(space: Space) -> list[str]:
    """The knobs the spec lets vary: declared, with more than one value (a continuous range counts)."""
    return [k for k in space.order if space.knobs[k].declared
            and len(space.knobs[k].domain.values() or [0, 0]) > 1]


def level_of(space: Space, key: str, point: Mapping[str, Any]) -> str:
    """The knob's level at a point: its value as text, or ``inactive``."""
    if key not in point or not space.is_active(key, point):
        return INACTIVE
    return value_text(point[key])


def knob_effects(space: Space, records: Sequence[TrialRecord], metric: str = "val_error",
                 costs: Sequence[str] = ("gmacs", "params_m"), margin: float | None = None,
                 searcher: str = "random", scheduler: str = "none", raced: bool = False) -> Effects:
    """The effects of every knob that varies among the full-budget runs (module doc)."""
    import statsmodels.api as sm

    runs = [r for r in records if r.trained_fully and _finite(_value(r, metric))]
    if not runs:
        raise ValueError(f"no full-budget run has a {metric.replace('_', ' ')}")
    points = {r.id: space.canonical_values(r.point) for r in runs}
    varying = [k for k in varied_knobs(space) if len({level_of(space, k, p) for p in points.values()}) > 1]
    # A continuous knob whose values hardly repeat would spend a column a point: no factor.
    continuous = [k for k in varying if space.knobs[k].domain.values() is None
                  and len({level_of(space, k, p) for p in points.values()}) > len(points) / 2]
    knobs = [k for k in varying if k not in continuous]
    levels = {k: {pid: level_of(space, k, p) for pid, p in points.items()} for k in knobs}
    references = {k: _reference(space, k, levels[k], points) for k in knobs}
    y = np.array([_value(r, metric) for r in runs], dtype=float)

    columns: list[tuple[str, np.ndarray]] = [("intercept", np.ones(len(runs)))]
    seeds = sorted({r.seed for r in runs}, key=repr)
    columns += [(f"seed={s}", np.array([r.seed == s for r in runs], float)) for s in seeds[1:]]
    main = [(f"{k}={v}", np.array([levels[k][r.id] == v for r in runs], float))
            for k in knobs for v in sorted(set(levels[k].values()), key=_level_order) if v != references[k][0]]
    design, names, dropped = _independent(columns, main)
    saturated, *_ = _independent(columns, [(pid, np.array([r.id == pid for r in runs], float)) for pid in points])
    seeds_fit = sm.OLS(y, saturated).fit()
    pure = (float(seeds_fit.ssr), int(round(seeds_fit.df_resid)))
    fit = _fit(sm, y, design, pure)

    effects: list[LevelEffect] = []
    cost_fits = {c: _log_fit(runs, design, c) for c in costs}
    for k in knobs:
        kept = [n for n in names if n.startswith(f"{k}=")]
        tests = [PairTest(n, f"{k}={references[k][0]}", float(fit.params[names.index(n)]),
                          None if fit.stderr is None else float(fit.stderr[names.index(n)]), float(fit.df), (),
                          "linear model (knobs + seed)") for n in kept]
        for test, verdict in zip(tests, adjusted(tests, "holm", margin)):
            if "seeds a point" in verdict.verdict:  # that count reads points, not levels of a model
                verdict = replace(verdict, verdict=UNRESOLVED)
            level = test.point.split("=", 1)[1]
            effects.append(LevelEffect(
                k, level, references[k][0], sum(v == level for v in levels[k].values()), verdict,
                {c: 100 * math.expm1(params[names.index(test.point)]) for c, params in cost_fits.items()
                 if params is not None}))

    interactions, untested, jointly = _interactions(sm, y, design, names, knobs, fit, pure)
    return Effects(metric, len(runs), len(points), math.sqrt(fit.scale) if fit.df else math.nan, fit.df,
                   fit.between_points, _lack_of_fit(fit, pure), references, effects,
                   _unseparable(dropped, main, design, names), interactions, untested, jointly,
                   _importance(runs, levels, metric),
                   _caveats(effects, levels, references, continuous, points, searcher, scheduler, raced))


def _value(record: TrialRecord, metric: str) -> float | None:
    return record.test_error if metric == "test_error" else record.objective(metric)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _level_order(level: str) -> tuple[int, float, str]:
    """Numbers by value ('4' before '16'), then text, ``inactive`` last."""
    try:
        return 0, float(level), level
    except ValueError:
        return (2 if level == INACTIVE else 1), 0.0, level


def _reference(space: Space, key: str, levels: Mapping[str, str], points: Mapping[str, Mapping[str, Any]]
               ) -> tuple[str, bool]:
    """The space's default as a level (normalised at each point: placement 'all' is the backbone's
    stage list), where points hold it; else the commonest active level (never ``inactive``: its
    column would equal the parent's level that switches the knob off)."""
    present = [v for v in levels.values() if v != INACTIVE]
    defaults = {value_text(space.normalise(key, space.knobs[key].default, p)) for p in points.values()}
    held = sorted(defaults & set(present), key=_level_order)
    if held:
        return held[0], True
    return max(sorted(set(present), key=_level_order), key=present.count), False


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


def _unseparable(dropped: Sequence[str], main: Sequence[tuple[str, np.ndarray]], design: np.ndarray,
                 names: Sequence[str]) -> list[str]:
    """Each dropped level with the kept level whose runs it is exactly, where one is."""
    columns = dict(main)
    described = []
    for name in dropped:
        twin = next((n for k, n in enumerate(names) if "=" in n and not n.startswith("seed=")
                     and np.array_equal(design[:, k], columns[name])), None)
        described.append(f"{name} (= {twin})" if twin else f"{name} (spanned by the other levels and seeds)")
    return described


@dataclass(frozen=True)
class _Fit:
    params: np.ndarray
    stderr: np.ndarray | None  # None: no error df
    ssr: float
    df_resid: int
    scale: float  # the error variance (module doc)
    df: int  # its degrees of freedom
    between_points: bool


def _fit(sm: Any, y: np.ndarray, design: np.ndarray, pure: tuple[float, int]) -> _Fit:
    """OLS, judged against the between-point error where the model leaves point means unexplained
    and a point has seeds to tell it from (``pure``: the seeds' scatter about the points, ss and
    df), else against its residual."""
    ols = sm.OLS(y, design).fit()
    ssr, df_resid = float(ols.ssr), int(round(ols.df_resid))
    lack_df = df_resid - pure[1]
    if pure[1] >= 1 and lack_df >= 1:
        scale, df, between = max(ssr - pure[0], 0.0) / lack_df, lack_df, True
    else:
        scale, df, between = (ssr / df_resid if df_resid else math.nan), df_resid, False
    stderr = np.sqrt(scale * np.diag(ols.normalized_cov_params)) if df else None
    return _Fit(np.asarray(ols.params), stderr, ssr, df_resid, scale, df, between)


def _lack_of_fit(fit: _Fit, pure: tuple[float, int]) -> LackOfFit | None:
    if not fit.between_points or pure[0] <= 0:
        return None
    f_value = fit.scale / (pure[0] / pure[1])
    return LackOfFit(f_value, fit.df, pure[1], float(stats.f.sf(f_value, fit.df, pure[1])))


def _f_test(full: _Fit, reduced: _Fit) -> tuple[float, int]:
    """The F test of the columns ``full`` adds to ``reduced``, against ``full``'s error: p and df."""
    df = reduced.df_resid - full.df_resid
    if not full.scale or not full.df:
        return math.nan, df
    f_value = max(reduced.ssr - full.ssr, 0.0) / df / full.scale
    return float(stats.f.sf(f_value, df, full.df)), df


def _log_fit(runs: Sequence[TrialRecord], design: np.ndarray, cost: str) -> np.ndarray | None:
    values = [r.objective(cost) for r in runs]
    if any(v is None or v <= 0 for v in values):
        return None
    params, *_ = np.linalg.lstsq(design, np.log(np.array(values, float)), rcond=None)
    return params


def _interactions(sm: Any, y: np.ndarray, design: np.ndarray, names: list[str], knobs: list[str], fit: _Fit,
                  pure: tuple[float, int]) -> tuple[list[Interaction], int, bool]:
    """F tests of each pair of knobs' interaction where the data hold one, Holm over those tested;
    whether they were tested jointly (each given every other pair's) or, the joint model having no
    error degrees of freedom, one pair at a time."""
    from statsmodels.stats.multitest import multipletests

    kept = {n: design[:, names.index(n)] for n in names}
    products = {}
    for a, b in itertools.combinations(knobs, 2):
        products[(a, b)] = [(f"{na}*{nb}", kept[na] * kept[nb]) for na in kept if na.startswith(f"{a}=")
                            for nb in kept if nb.startswith(f"{b}=")]
    joint, joint_names, _ = _independent(list(zip(names, design.T)), [c for cs in products.values() for c in cs])
    full_fit = _fit(sm, y, joint, pure)
    jointly = full_fit.df >= 1
    tested, untested = [], 0
    for (a, b), columns in products.items():
        mine = {n for n, _ in columns} & set(joint_names)
        if jointly and mine:  # this pair's terms against the model with every other pair's
            without = [k for k, n in enumerate(joint_names) if n not in mine]
            p, df = _f_test(full_fit, _fit(sm, y, joint[:, without], pure))
            between = full_fit.between_points
        elif not jointly:
            alone, _, _ = _independent(list(zip(names, design.T)), columns)
            alone_fit = _fit(sm, y, alone, pure) if alone.shape[1] > design.shape[1] else None
            if alone_fit is None or alone_fit.df < 1:
                untested += 1
                continue
            p, df = _f_test(alone_fit, fit)
            between = alone_fit.between_points
        else:
            untested += 1
            continue
        if math.isnan(p):
            untested += 1
            continue
        tested.append((a, b, df, p, between))
    if not tested:
        return [], untested, jointly
    p_adjusted = multipletests([t[3] for t in tested], method="holm")[1]
    return ([Interaction(a, b, df, p, float(q), between) for (a, b, df, p, between), q in zip(tested, p_adjusted)],
            untested, jointly)


def _caveats(effects: Sequence[LevelEffect], levels: Mapping[str, Mapping[str, str]],
             references: Mapping[str, tuple[str, bool]], continuous: Sequence[str],
             points: Mapping[str, Any], searcher: str, scheduler: str, raced: bool) -> list[str]:
    def few(count: int) -> str:
        return f"{count} point{'s' if count != 1 else ''} (fewer than {MIN_POINTS})"

    caveats = []
    for knob, (reference, _) in references.items():
        if not any(e.knob == knob for e in effects):
            continue  # no contrast rests on it
        count = sum(v == reference for v in levels[knob].values())
        if count < MIN_POINTS:
            caveats.append(f"{knob}'s reference {reference}: {few(count)}: every contrast of the knob rests on it")
    caveats += [f"{e.knob}={e.level}: {few(e.points)}: its effect rests on too few designs"
                for e in effects if e.points < MIN_POINTS]
    caveats += [f"{k} is continuous and its values hardly repeat over the {len(points)} points: not a factor "
                "here, its effect is in the error" for k in continuous]
    if searcher not in UNIFORM_SEARCHERS:
        caveats.append(f"the {searcher} searcher chose points by their errors: knobs correlate by selection, "
                       "so an effect may belong to a knob it travelled with")
    if scheduler != "none":
        caveats.append(f"early stopping ({scheduler}) promoted the better points to the full budget: the effects "
                       "are among the points the search kept, not over the space")
    if raced:
        caveats.append("a race stopped adding seeds to a point once it settled: the points it settled early "
                       "keep estimates that lean the way that settled them")
    return caveats


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
