"""A validated design space: canonical points, ids, counting, enumeration, sampling, anchors.

A *point* is a flat dict from dotted knob keys to values. Its canonical form
holds exactly the knobs that are active (by the vocabulary's ``active_when`` and
the spec's ``when``), normalised; a knob the spec switches off keeps the
space's default, since the builder still needs a value for it. A canonical
point is self-contained: it builds and trains without its spec.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import networkx as nx

from gespace.grammar.conditions import Condition
from gespace.grammar.domains import Choice, Fixed, FloatRange, IntRange, check_value
from gespace.grammar.errors import Problem, SpecError, did_you_mean
from gespace.grammar.point import CanonicalPoint
from gespace.grammar.spec import KnobDef, ParsedSpec, plain, read_spec
from gespace.objectives import CONSTRAINTS, OBJECTIVES
from gespace.vocab import (ARCH_STAGES, KNOBS, VALIDITY_KNOBS, knob_default, min_gather_depth,
                           point_problems)

Point = dict[str, Any]

_VOCAB_CONDITIONS = {key: Condition(k.active_when) if k.active_when else None
                     for key, k in KNOBS.items()}
# Knobs whose normalised value is computed from another knob's value.
_NORMALISED_FROM = {"ge.placement.stages": ("backbone.arch",),
                    "ge.gather.depth": ("ge.gather.extent",)}
_LEAF_LIMIT = 2_000_000


class PointError(ValueError):
    """A point that is not in the space (or not a point at all)."""


def point_id(point: Point) -> str:
    """Short stable hash of the point's canonical form (key order and inactive knobs ignored): a
    `CanonicalPoint`'s own id, computed once."""
    if isinstance(point, CanonicalPoint):
        return point.id
    return digest(point)


def digest(point: Point) -> str:
    """The hash of ``point`` canonicalised against the vocabulary (inactive knobs at its defaults)."""
    canonical = VOCABULARY_SPACE.canonical_values(point)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def load_space(path: str) -> "Space":
    """Read and validate a spec file; SpecError lists every problem found."""
    parsed = read_spec(path)
    space = Space(parsed)
    if space.problems:
        raise SpecError(space.problems)
    return space


@dataclass
class _Walk:
    values: Point
    free_factor: int | None  # points per assignment of the branched knobs; None: continuous
    continuous: bool


class Space:
    """A design space read from a spec; see ``load_space``."""

    def __init__(self, parsed: ParsedSpec) -> None:
        self.path = parsed.path
        self.name = parsed.name
        self.description = parsed.description
        self.spec_hash = parsed.spec_hash
        self.knobs: dict[str, KnobDef] = parsed.knobs
        self.constraints = parsed.constraints
        self.report = parsed.report  # the report section: reference (hypervolumes), equivalence, cost tolerance
        self.problems: list[Problem] = list(parsed.problems)
        self._anchors: dict[str, Point] = {}
        if not self.knobs:
            return
        self.graph = self._dependency_graph()
        if self._cycle_problems():
            return
        index = {key: i for i, key in enumerate(KNOBS)}
        self.order = list(nx.lexicographical_topological_sort(self.graph, key=index.__getitem__))
        self.controlling = {k for k in self.graph if self.graph.out_degree(k)} | set(VALIDITY_KNOBS)
        for knob in self.knobs.values():
            if knob.default is None:
                knob.default = _natural_default(knob)
        if not self.problems:
            self._check_reachability()
            self._read_anchors(parsed.anchors)

    # --- validation -------------------------------------------------------------------------
    def _problem(self, where: tuple[int, int], key: str, message: str) -> None:
        self.problems.append(Problem(self.path, where[0], where[1], key, message))

    def _dependency_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(KNOBS)
        for key, knob in KNOBS.items():
            sources = set(_VOCAB_CONDITIONS[key].names) if _VOCAB_CONDITIONS[key] else set()
            sources |= set(_NORMALISED_FROM.get(key, ()))
            if knob.arch_default:
                sources.add("backbone.arch")
            graph.add_edges_from((source, key) for source in sources)
        reported: set[tuple] = set()
        for key, knob in self.knobs.items():
            for condition, where in zip(knob.conditions, knob.when_pos):
                for name in sorted(condition.names):
                    if name in KNOBS:
                        graph.add_edge(name, key, where=where)
                    elif (where, name) not in reported:
                        reported.add((where, name))
                        self._problem(where, f"{key}.when",
                                      f"condition reads unknown knob {name!r}{did_you_mean(name, KNOBS)}")
        return graph

    def _cycle_problems(self) -> bool:
        cycles = list(nx.simple_cycles(self.graph))
        for cycle in cycles:
            edges = list(zip(cycle, cycle[1:] + cycle[:1]))
            # Report at a condition the spec wrote (vocabulary edges have no position).
            source, target = next(((a, b) for a, b in edges if "where" in self.graph.edges[a, b]),
                                  edges[0])
            where = self.graph.edges[source, target].get("where", (1, 1))
            start = cycle.index(target)
            loop = " -> ".join(cycle[start:] + cycle[:start] + [target])
            self._problem(where, f"{target}.when", f"conditions form a cycle: {loop}")
        return bool(cycles)

    def _check_reachability(self) -> None:
        """Every condition must hold, and every listed value be buildable, in some point."""
        active_seen: set[str] = set()
        used: dict[str, set] = {}
        reasons: dict[tuple[str, Any], str] = {}
        unbuildable: dict[tuple[str, str], None] = {}  # ordered set of (key, message)
        for walk in self._walk(self.controlling):
            problems = point_problems(walk.values)
            unbuildable.update(dict.fromkeys(problems))
            if problems:
                # Every value in this assignment shares the blame: only values that
                # appear in no buildable point are reported, with one such reason.
                for key in self.controlling & walk.values.keys():
                    reasons.setdefault((key, _freeze(walk.values[key])), problems[0][1])
                continue
            for key in walk.values:
                if self.is_active(key, walk.values):
                    active_seen.add(key)
                    used.setdefault(key, set()).add(_freeze(walk.values[key]))
        if not active_seen:
            for key, message in unbuildable:
                knob = self.knobs[key]
                self._problem((knob.line, knob.col) if knob.declared else (1, 1), key,
                              f"the space has no buildable point: {message}")
            return
        for key, knob in self.knobs.items():
            if not knob.declared:
                continue
            if key not in active_seen:
                if knob.conditions:
                    where = knob.when_pos[-1]
                    texts = " and ".join(c.text for c in knob.conditions)
                    self._problem(where, f"{key}.when", f"condition can never hold: {texts}")
                elif not isinstance(knob.domain, Fixed):
                    needs = KNOBS[key].active_when
                    self._problem((knob.line, knob.col), key,
                                  f"never active in this space (it needs {needs})")
                continue
            if key in self.controlling and knob.domain.values():
                for value in knob.domain.values():
                    if value != "all" and _freeze(value) not in used.get(key, set()):
                        reason = reasons.get((key, _freeze(value)), "no point of the space takes it")
                        self._problem((knob.line, knob.col), key,
                                      f"value {_show(value)} never gives a buildable point: {reason}")

    def _read_anchors(self, anchors: list) -> None:
        for name, settings, node in anchors:
            raw: Point = {}
            for key, located in settings.items():
                try:
                    value = check_value(key, plain(located))
                except ValueError as err:
                    self._problem((located.line, located.col), f"anchors.{name}.{key}", str(err))
                    continue
                domain = self.knobs[key].domain
                context = {"backbone.arch": plain(settings["backbone.arch"]) if "backbone.arch" in settings
                           else self.knobs["backbone.arch"].default}
                if not self.in_domain(key, value, context):
                    known = ("the space does not vary this knob" if isinstance(domain, Fixed)
                             and not domain.explicit else domain.describe())
                    self._problem((located.line, located.col), f"anchors.{name}.{key}",
                                  f"{_show(value)} is not in the space ({known})")
                    continue
                raw[key] = value
            point = self.canonicalise(raw)
            for key, located in settings.items():
                if key in raw and not self.is_active(key, point):
                    self._problem((located.line, located.col), f"anchors.{name}.{key}",
                                  "this setting has no effect at this anchor (the knob is inactive)")
            for key, message in point_problems(point):
                self._problem((node.line, node.col), f"anchors.{name}", f"{key}: {message}")
            self._anchors[name] = point

    # --- points ----------------------------------------------------------------------------
    def is_active(self, key: str, values: Point) -> bool:
        """Whether knob ``key`` of a complete assignment is active (its value chosen, not defaulted)."""
        return key in values and all(c.holds(values) for c in self.knobs[key].conditions)

    def in_domain(self, key: str, value: Any, values: Point) -> bool:
        """Whether the space's domain for ``key`` holds ``value``, compared after normalisation
        (so stages [2, 3, 4] are in a domain that lists 'all' for a three-stage backbone)."""
        domain = self.knobs[key].domain
        if domain.contains(value):
            return True
        listed = domain.values() or []
        normal = self.normalise(key, value, values)
        return any(self.normalise(key, option, values) == normal for option in listed)

    def normalise(self, key: str, value: Any, values: Point) -> Any:
        if value is None:
            value = knob_default(key, values.get("backbone.arch"))
            if value is None and key == "ge.gather.depth" and "ge.gather.extent" in values:
                value = min_gather_depth(values["ge.gather.extent"])
        elif key == "ge.placement.stages" and value == "all":
            value = ARCH_STAGES[values["backbone.arch"]]
        return value

    def resolve(self, choose: Callable[[str, KnobDef, Point], Any]) -> CanonicalPoint:
        """Walk the knobs in dependency order; ``choose`` picks the value of each active knob."""
        return CanonicalPoint(self._resolve_values(choose))

    def _resolve_values(self, choose: Callable[[str, KnobDef, Point], Any]) -> Point:
        values: Point = {}
        for key in self.order:
            vocab = _VOCAB_CONDITIONS[key]
            if vocab is not None and not vocab.holds(values):
                continue
            knob = self.knobs[key]
            active = all(condition.holds(values) for condition in knob.conditions)
            value = choose(key, knob, values) if active else knob.default
            values[key] = self.normalise(key, value, values)
        return values

    def canonicalise(self, raw: Point, *, strict: bool = False) -> CanonicalPoint:
        """The canonical point of ``raw`` (a partial point, JSON's lists, another space's point);
        ``strict`` also requires values in the space's domains. `PointError` if it is none."""
        return CanonicalPoint(self.canonical_values(raw, strict=strict))

    def canonical_values(self, raw: Point, *, strict: bool = False) -> Point:
        """`canonicalise`'s values as a plain dict (what ids are computed from)."""
        unknown = [key for key in raw if key not in KNOBS]
        if unknown:
            key = unknown[0]
            raise PointError(f"{key}: unknown knob{did_you_mean(key, KNOBS)}")
        checked: Point = {}
        for key, value in raw.items():
            try:
                checked[key] = check_value(key, value) if value is not None else None
            except ValueError as err:
                raise PointError(f"{key}: {err}") from None

        def choose(key: str, knob: KnobDef, values: Point) -> Any:
            if key not in checked:
                return knob.default
            if strict and checked[key] is not None and not self.in_domain(key, checked[key], values):
                raise PointError(f"{key}: {_show(checked[key])} is not in the space "
                                 f"({knob.domain.describe()})")
            return checked[key]

        return self._resolve_values(choose)

    def point_id(self, raw: Point) -> str:
        return point_id(self.canonicalise(raw))

    def problems_of(self, point: Point) -> list[str]:
        """Why a canonical point cannot be built ('' list when it can)."""
        return [f"{key}: {message}" for key, message in point_problems(point)]

    def _walk(self, branch: set[str]) -> Iterator[_Walk]:
        """Depth-first over assignments of the ``branch`` knobs; others take their default."""
        leaves = 0

        def visit(i: int, values: Point, factor: int | None, continuous: bool) -> Iterator[_Walk]:
            nonlocal leaves
            if i == len(self.order):
                leaves += 1
                if leaves > _LEAF_LIMIT:
                    raise SpecError([Problem(self.path, 1, 1, "", "space too large to walk exactly")])
                yield _Walk(values, factor, continuous)
                return
            key = self.order[i]
            vocab = _VOCAB_CONDITIONS[key]
            if vocab is not None and not vocab.holds(values):
                yield from visit(i + 1, values, factor, continuous)
                return
            knob = self.knobs[key]
            options = [knob.default]
            if all(condition.holds(values) for condition in knob.conditions):
                listed = knob.domain.values()
                if key in branch:
                    options = listed if listed is not None else knob.domain.representatives()
                    continuous = continuous or listed is None
                elif factor is not None:
                    factor = None if listed is None else factor * len(listed)
            for option in options:
                yield from visit(i + 1, {**values, key: self.normalise(key, option, values)},
                                 factor, continuous)

        yield from visit(0, {}, 1, False)

    def count(self) -> int | None:
        """Distinct canonical buildable points, or None when the space is continuous."""
        seen: dict[tuple, int | None] = {}
        continuous = False
        for walk in self._walk(self.controlling):
            if point_problems(walk.values):
                continue
            continuous = continuous or walk.continuous
            key = tuple((k, _freeze(walk.values[k])) for k in self.order
                        if k in self.controlling and k in walk.values)
            seen[key] = walk.free_factor
        if continuous or any(factor is None for factor in seen.values()):
            return None
        return sum(seen.values())

    def enumerate(self) -> Iterator[Point]:
        """Every distinct canonical buildable point (grid); PointError for continuous spaces."""
        if self.count() is None:
            raise PointError(f"{self.name}: the space is continuous and cannot be enumerated; sample it")
        seen: set[str] = set()
        for walk in self._walk(set(self.order)):
            if point_problems(walk.values):
                continue
            point = CanonicalPoint(walk.values)
            if point.id not in seen:
                seen.add(point.id)
                yield point

    def sample(self, n: int, seed: int = 0, method: str = "random", unique: bool = False) -> list[Point]:
        """``n`` buildable points: uniform over each active knob ('random') or Sobol ('sobol').

        With ``unique``, repeats are skipped (fewer than n come back if the space is smaller).
        """
        points: list[Point] = []
        seen: set[str] = set()
        for point in itertools.islice(self.iter_samples(seed, method), 50 * n + 100):
            if len(points) == n:
                break
            if unique:
                pid = point_id(point)
                if pid in seen:
                    continue
                seen.add(pid)
            points.append(point)
        return points

    def iter_samples(self, seed: int = 0, method: str = "random") -> Iterator[Point]:
        """An endless stream of buildable sampled points (repeats possible)."""
        if method == "random":
            rng = random.Random(seed)
            draw = lambda: self.resolve(lambda key, knob, values: knob.domain.sample(rng))  # noqa: E731
        elif method == "sobol":
            draw = self._sobol_draw(seed)
        else:
            raise ValueError(f"unknown sampling method {method!r}; use random or sobol")
        misses = 0
        while misses < 10_000:
            point = draw()
            if point_problems(point):
                misses += 1
                continue
            misses = 0
            yield point

    def _sobol_draw(self, seed: int) -> Callable[[], Point]:
        from scipy.stats import qmc

        dims = {key: i for i, key in enumerate(self.order)}
        engine = qmc.Sobol(len(dims), scramble=True, seed=seed)

        def draw() -> Point:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # balance warnings for n not a power of two
                row = engine.random(1)[0]
            return self.resolve(lambda key, knob, values: knob.domain.from_unit(row[dims[key]]))

        return draw

    # --- anchors and constraints ----------------------------------------------------------
    def anchors(self) -> list[tuple[str, Point]]:
        return list(self._anchors.items())

    def anchor(self, name: str) -> Point:
        if name not in self._anchors:
            raise PointError(f"{self.name}: no anchor {name!r}{did_you_mean(name, self._anchors)}; "
                             f"anchors: {', '.join(self._anchors) or 'none'}")
        return self._anchors[name]

    def constraint_violations(self, cost: Any) -> list[str]:
        """Broken constraints for a cost with ``gmacs``, ``params_m`` and ``latency_ms`` (attributes or
        keys). A figure the cost does not have (latency before a campaign measures it) is not checked."""
        def get(name: str) -> float | None:
            return cost.get(name) if isinstance(cost, dict) else getattr(cost, name, None)

        broken = []
        for constraint in CONSTRAINTS.values():
            value, bound = get(constraint.objective), self.constraints.get(constraint.name)
            if bound is not None and value is not None and value > bound:
                broken.append(f"{value:.4g} {OBJECTIVES[constraint.objective].unit} > {constraint.name} {bound:g}")
        return broken


def _natural_default(knob: KnobDef) -> Any:
    """The space's default: the vocabulary's when the domain holds it, else its first value."""
    domain = knob.domain
    if isinstance(domain, Fixed):
        return domain.value
    vocab_default = KNOBS[knob.key].default
    if vocab_default is not None and domain.contains(vocab_default):
        return vocab_default
    if isinstance(domain, Choice):
        return domain.options[0]
    return domain.low if isinstance(domain, (IntRange, FloatRange)) else None


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _vocabulary_space() -> Space:
    knobs = {key: KnobDef(key, Fixed(knob.default)) for key, knob in KNOBS.items()}
    return Space(ParsedSpec("<vocabulary>", "vocabulary", "", knobs, [], {}, "", []))


VOCABULARY_SPACE = _vocabulary_space()
