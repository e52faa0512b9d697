"""Read a YAML spec file into a `Space`, collecting every problem with its position.

YAML is composed with PyYAML's SafeLoader (no arbitrary objects) so that each
key and value keeps its line and column for error messages.

A spec file is refused in one problem, before it is composed, when it breaks a
limit: more than ``MAX_SPEC_BYTES`` bytes, bytes that are not UTF-8, nesting
deeper than ``MAX_DEPTH``, more than ``MAX_NODES`` YAML nodes once aliases are
expanded, or a value longer than ``MAX_SCALAR_CHARS`` characters. Real specs are
far inside them (the shipped ones: under 2 KB, 6 levels, 160 nodes); a hostile
file (a "billion laughs" of nested aliases, thousands of brackets) is refused at
once instead of exhausting time, memory or the stack.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from gespace.files import MAX_DEPTH, MAX_FILE_BYTES, InputError, read_text
from gespace.grammar.conditions import Condition, ConditionSyntaxError
from gespace.grammar.domains import Choice, Domain, Fixed, FloatRange, IntRange, check_value
from gespace.grammar.errors import Problem, did_you_mean
from gespace.objectives import CONSTRAINTS, ERROR, OBJECTIVES
from gespace.vocab import KNOBS, SECTIONS

TOP_LEVEL = ("name", "description", "backbone", "ge", "train", "anchors", "constraints", "report")
DOMAIN_KEYS = ("choice", "int", "float", "value")
DOMAIN_OPTIONS = ("step", "log", "when", "default", "doc")
_PREFIXES = {key.rsplit(".", i)[0] for key in KNOBS for i in range(1, key.count(".") + 1)}

MAX_SPEC_BYTES = MAX_FILE_BYTES
MAX_NODES = 10_000
MAX_SCALAR_CHARS = 10_000


@dataclass
class Located:
    """A YAML value with the position of its key and of itself (1-based)."""

    value: Any
    line: int
    col: int
    key_line: int = 0
    key_col: int = 0
    quoted: bool = False


@dataclass
class KnobDef:
    """A knob as the spec declares it: domain, conditions (subtree and own), positions."""

    key: str
    domain: Domain
    conditions: list[Condition] = field(default_factory=list)
    declared: bool = False  # False: not in the spec, the vocabulary's default
    default: Any = None
    line: int = 0
    col: int = 0
    when_pos: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class ParsedSpec:
    path: str
    name: str
    description: str
    knobs: dict[str, KnobDef]
    anchors: list[tuple[str, dict[str, Any], Located]]
    constraints: dict[str, float]
    spec_hash: str
    problems: list[Problem]
    report: ReportOptions = field(default_factory=lambda: ReportOptions())


class _Reader:
    """Turns composed YAML nodes into Located trees and collects problems."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")
        self.unreadable = False  # a value had no Python value: checking the rest would only echo it

    def problem(self, at: Located | tuple[int, int], key: str, message: str) -> None:
        line, col = (at.line, at.col) if isinstance(at, Located) else at
        self.problems.append(Problem(self.path, line, col, key, message))

    def located(self, node: yaml.Node, key_node: yaml.Node | None = None, path: str = "") -> Located:
        mark = node.start_mark
        where = Located(None, mark.line + 1, mark.column + 1)
        if key_node is not None:
            where.key_line, where.key_col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str, Located] = {}
            for key_node_, value_node in node.value:
                key = self.construct(key_node_, path)
                child_path = f"{path}.{key}" if path else str(key)
                if key in mapping:
                    self.problem((key_node_.start_mark.line + 1, key_node_.start_mark.column + 1),
                                 child_path, "duplicate key")
                mapping[str(key)] = self.located(value_node, key_node_, child_path)
            where.value = mapping
        elif isinstance(node, yaml.SequenceNode):
            where.value = [self.located(item, None, path) for item in node.value]
        else:
            where.value = self.construct(node, path)
            where.quoted = node.style in ("'", '"')
        return where

    def construct(self, node: yaml.Node, path: str) -> Any:
        """The Python value of a scalar node; a problem and None where it has none (an unknown
        tag, a date like 2024-13-45, an integer too long to convert)."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as err:
            message = getattr(err, "problem", None) or str(err)
            self.problem((node.start_mark.line + 1, node.start_mark.column + 1), path,
                         f"cannot read this value: {_one_line(message)}")
            self.unreadable = True
            return None


def plain(tree: Located | Any) -> Any:
    """The plain Python value of a Located tree."""
    if not isinstance(tree, Located):
        return tree
    if isinstance(tree.value, dict):
        return {k: plain(v) for k, v in tree.value.items()}
    if isinstance(tree.value, list):
        return [plain(v) for v in tree.value]
    return tree.value


def key_pos(node: Located) -> tuple[int, int]:
    return (node.key_line, node.key_col) if node.key_line else (node.line, node.col)


def read_spec(path: str | os.PathLike) -> ParsedSpec:
    """Parse ``path``; problems are collected in the result, never raised."""
    path = os.fspath(path)
    reader = _Reader(path)
    text = _read_text(reader, path)
    if text is None:
        return _empty(path, reader.problems)
    # The hash of the text as read in text mode (universal newlines), as campaigns have stored it.
    spec_hash = hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode()).hexdigest()[:16]
    try:
        beyond = _beyond_limits(text)
        if beyond is not None:
            reader.problem(*beyond)
            return _empty(path, reader.problems)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = getattr(err, "problem", None) or str(err)
        if isinstance(err, yaml.reader.ReaderError):  # a control character: an offset, no mark
            where = _position(text, err.position)
            message = f"character #x{err.character:04x} is not allowed ({err.reason})"
        reader.problem(where, "", f"YAML syntax error: {_one_line(message)}")
        return _empty(path, reader.problems)
    if node is None or not isinstance(node, yaml.MappingNode):
        reader.problem((1, 1), "", "a spec is a YAML mapping with name, backbone, ge, train, ...")
        return _empty(path, reader.problems)
    root = reader.located(node)
    if reader.unreadable:
        return _empty(path, reader.problems)
    top: dict[str, Located] = root.value
    for key, child in top.items():
        if key not in TOP_LEVEL:
            reader.problem(key_pos(child), key,
                           f"unknown section{did_you_mean(key, TOP_LEVEL)}; sections are "
                           + ", ".join(TOP_LEVEL))
    name = top.get("name")
    if name is None or not isinstance(name.value, str) or not name.value:
        reader.problem(name or root, "name", "a spec needs a name (a non-empty string)")
    description = top.get("description")

    knobs: dict[str, KnobDef] = {}
    for section in SECTIONS:
        if section in top:
            _read_subtree(reader, top[section], section, [], knobs)
    for key in KNOBS:
        if key not in knobs:
            knobs[key] = KnobDef(key, Fixed(KNOBS[key].default))

    anchors = _read_anchors(reader, top.get("anchors"))
    constraints = _read_constraints(reader, top.get("constraints"))
    report = _read_report(reader, top.get("report"))
    return ParsedSpec(path, name.value if name and isinstance(name.value, str) else "",
                      str(description.value) if description else "", knobs, anchors, constraints,
                      spec_hash, reader.problems, report)


def _empty(path: str, problems: list[Problem]) -> ParsedSpec:
    return ParsedSpec(path, "", "", {}, [], {}, "", problems)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` of ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _read_text(reader: _Reader, path: str) -> str | None:
    """The spec file's text, or None with one problem: unreadable, not a file, too big, not UTF-8."""
    try:
        return read_text(path, "spec", MAX_SPEC_BYTES)
    except InputError as err:
        reader.problem((err.line, err.column), "", err.message)
        return None


@dataclass
class _Open:
    """A collection the pre-pass is inside: its dotted key and the nodes it expands to so far."""

    path: str
    mapping: bool
    anchor: str | None
    size: int = 1
    at_key: bool = True  # a mapping's next node is a key
    key: str = "?"


def _beyond_limits(text: str) -> tuple[tuple[int, int], str, str] | None:
    """The first limit the YAML breaks, as (position, dotted key, message), else None.

    One linear pass over the parse events (the parser keeps its own stack, unlike the
    composer, which recurses as deep as the nesting): it tracks depth and counts nodes
    as composing would expand them, each alias counting the whole node it names.
    """
    stack: list[_Open] = []
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if not isinstance(event, (yaml.NodeEvent, yaml.CollectionEndEvent)):
            continue
        where = (event.start_mark.line + 1, event.start_mark.column + 1)
        parent = stack[-1] if stack else None
        if isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            if done.anchor is not None:
                sizes[done.anchor] = done.size
            size, key_text = done.size, "?"
            parent = stack[-1] if stack else None
        else:
            if parent is None:
                path = ""
            elif parent.mapping and not parent.at_key:
                path = f"{parent.path}.{parent.key}" if parent.path else parent.key
            else:
                path = parent.path
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in {frame.anchor for frame in stack}:
                    return where, path, f"the alias *{event.anchor} is inside the node it names (a cycle)"
                size = sizes.get(event.anchor, 1)  # an undefined alias: the composer reports it
            else:
                size = 1
            total += size
            if total > MAX_NODES:
                expands = (f" (the alias *{event.anchor} alone stands for {size})"
                           if isinstance(event, yaml.AliasEvent) else "")
                return where, path, (f"more than {MAX_NODES} YAML nodes once aliases are expanded{expands}; "
                                     f"a spec may have at most {MAX_NODES}")
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    return where, path, f"nested more than {MAX_DEPTH} levels deep, the limit for a spec"
                stack.append(_Open(path, isinstance(event, yaml.MappingStartEvent), event.anchor))
                continue
            if isinstance(event, yaml.ScalarEvent):
                if len(event.value) > MAX_SCALAR_CHARS:
                    return where, path, (f"a value of {len(event.value)} characters; a spec's values "
                                         f"may have at most {MAX_SCALAR_CHARS}")
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            key_text = event.value if isinstance(event, yaml.ScalarEvent) else "?"
        if parent is not None:
            parent.size = min(parent.size + size, MAX_NODES + 1)  # big enough to refuse, never huge
            if parent.mapping:
                if parent.at_key:
                    parent.key = key_text
                parent.at_key = not parent.at_key
    return None


def _parse_when(reader: _Reader, node: Located, key: str) -> Condition | None:
    if not isinstance(node.value, str):
        reader.problem(node, key, "a 'when' condition is a string, e.g. \"ge.excite.mlp == 'se'\"")
        return None
    try:
        return Condition(node.value)
    except ConditionSyntaxError as err:
        # A quoted condition starts one column after its quote.
        col = node.col + err.offset + (1 if node.quoted else 0)
        shown = node.value if len(node.value) <= 80 else node.value[:77] + "..."
        reader.problem((node.line, col), key, f"bad condition {shown!r}: {err}")
        return None


def _read_subtree(reader: _Reader, node: Located, path: str, conditions: list, knobs: dict) -> None:
    if not isinstance(node.value, dict):
        reader.problem(node, path, f"expected a mapping of {path} knobs")
        return
    conditions = list(conditions)
    if "when" in node.value:
        condition = _parse_when(reader, node.value["when"], f"{path}.when")
        if condition is not None:
            conditions.append((condition, (node.value["when"].line, node.value["when"].col)))
    for key, child in node.value.items():
        if key == "when":
            continue
        child_path = f"{path}.{key}"
        if child_path in KNOBS:
            knobs[child_path] = _read_knob(reader, child, child_path, conditions)
        elif child_path in _PREFIXES:
            _read_subtree(reader, child, child_path, conditions, knobs)
        else:
            siblings = [k for k in list(KNOBS) + sorted(_PREFIXES) if k.startswith(path + ".")]
            hint = did_you_mean(child_path, siblings)
            reader.problem(key_pos(child), child_path, f"unknown knob{hint}")


def _read_knob(reader: _Reader, node: Located, key: str, conditions: list) -> KnobDef:
    knob = KnobDef(key, Fixed(KNOBS[key].default), declared=True,
                   line=node.line, col=node.col)
    for condition, where in conditions:
        knob.conditions.append(condition)
        knob.when_pos.append(where)
    value = node.value
    if isinstance(value, dict) and any(k in value for k in DOMAIN_KEYS):
        _read_domain(reader, node, key, knob)
    elif isinstance(value, dict):
        reader.problem(node, key, "a knob's mapping needs one of choice, int, float or value"
                       + did_you_mean(next(iter(value), ""), DOMAIN_KEYS))
    else:
        fixed = _checked(reader, node, key, plain(node))
        if fixed is not None:
            knob.domain = Fixed(fixed, explicit=True)
    return knob


def _checked(reader: _Reader, node: Located, key: str, value: Any, shown_key: str = "") -> Any:
    """``value`` checked for knob ``key``; a problem (under ``shown_key``) and None if it is bad."""
    try:
        return check_value(key, value)
    except ValueError as err:
        reader.problem(node, shown_key or key, str(err))
        return None


def _read_domain(reader: _Reader, node: Located, key: str, knob: KnobDef) -> None:
    spec: dict[str, Located] = node.value
    kinds = [k for k in DOMAIN_KEYS if k in spec]
    for option, child in spec.items():
        if option not in DOMAIN_KEYS + DOMAIN_OPTIONS:
            reader.problem(key_pos(child), f"{key}.{option}",
                           f"unknown option{did_you_mean(option, DOMAIN_KEYS + DOMAIN_OPTIONS)}")
    if len(kinds) > 1:
        reader.problem(node, key, f"give one of {', '.join(kinds)}, not several")
        return
    kind, body = kinds[0], spec[kinds[0]]
    knob_kind = KNOBS[key].kind
    if "when" in spec:
        condition = _parse_when(reader, spec["when"], f"{key}.when")
        if condition is not None:
            knob.conditions.append(condition)
            knob.when_pos.append((spec["when"].line, spec["when"].col))
    if kind == "value":
        fixed = _checked(reader, body, key, plain(body))
        if fixed is not None:
            knob.domain = Fixed(fixed, explicit=True)
    elif kind == "choice":
        if not isinstance(body.value, list) or not body.value:
            reader.problem(body, key, "choice needs a non-empty list of values")
            return
        options = []
        for item in body.value:
            checked = _checked(reader, item, key, plain(item))
            if checked is None:
                continue
            if checked in options:
                reader.problem(item, key, f"{plain(item)!r} is listed twice")
                continue
            options.append(checked)
        if options:
            knob.domain = Choice(tuple(options))
    elif kind in ("int", "float"):
        if knob_kind not in (kind, "float" if kind == "int" else ""):
            reader.problem(body, key, f"an {kind} range does not fit a {knob_kind} knob")
            return
        bounds = plain(body)
        if (not isinstance(bounds, list) or len(bounds) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
            reader.problem(body, key, f"{kind} needs [low, high]")
            return
        low, high = (_checked(reader, body, key, b) for b in bounds)
        if low is None or high is None:
            return
        if low > high or (kind == "float" and low == high):
            reader.problem(body, key, f"empty range: low {low} is not below high {high}")
            return
        if kind == "int":
            step = plain(spec.get("step", 1))
            if not isinstance(step, int) or isinstance(step, bool) or step < 1:
                reader.problem(spec.get("step", body), f"{key}.step", "step must be a positive integer")
                return
            knob.domain = IntRange(int(low), int(high), step)
        else:
            log = plain(spec.get("log", False))
            if not isinstance(log, bool):
                reader.problem(spec["log"], f"{key}.log", "log must be true or false")
                return
            if log and low <= 0:
                reader.problem(body, key, "a log range needs low > 0")
                return
            knob.domain = FloatRange(float(low), float(high), log)
    if "step" in spec and kind != "int":
        reader.problem(spec["step"], f"{key}.step", "step applies to int ranges only")
    if "log" in spec and kind != "float":
        reader.problem(spec["log"], f"{key}.log", "log applies to float ranges only")
    if "default" in spec:
        default = _checked(reader, spec["default"], key, plain(spec["default"]), f"{key}.default")
        if default is not None and not knob.domain.contains(default):
            reader.problem(spec["default"], f"{key}.default",
                           f"default {plain(spec['default'])!r} is not in the knob's domain")
        elif default is not None:
            knob.default = default


def _flatten(reader: _Reader, node: Located, prefix: str, out: dict[str, Located], anchor: str) -> None:
    """Anchor settings, written flat (``ge.excite.mlp: se``) or nested, as dotted keys."""
    for key, child in node.value.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in KNOBS:
            out[path] = child
        elif path in _PREFIXES and isinstance(child.value, dict):
            _flatten(reader, child, path, out, anchor)
        else:
            reader.problem(key_pos(child), f"anchors.{anchor}.{path}",
                           f"unknown knob{did_you_mean(path, KNOBS)}")


def _read_anchors(reader: _Reader, node: Located | None) -> list:
    if node is None:
        return []
    if not isinstance(node.value, dict):
        reader.problem(node, "anchors", "anchors is a mapping of name -> knob settings")
        return []
    anchors = []
    for name, settings in node.value.items():
        if settings.value is None:
            settings.value = {}
        if not isinstance(settings.value, dict):
            reader.problem(settings, f"anchors.{name}", "an anchor is a mapping of knob settings")
            continue
        flat: dict[str, Located] = {}
        _flatten(reader, settings, "", flat, name)
        anchors.append((name, flat, settings))
    return anchors


def _read_constraints(reader: _Reader, node: Located | None) -> dict[str, float]:
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        reader.problem(node, "constraints", "constraints is a mapping, e.g. max_gflops: 4.0")
        return {}
    constraints = {}
    for key, child in node.value.items():
        if key not in CONSTRAINTS:
            reader.problem(key_pos(child), f"constraints.{key}",
                           f"unknown constraint{did_you_mean(key, CONSTRAINTS)}; known: "
                           + ", ".join(CONSTRAINTS))
        elif not isinstance(child.value, (int, float)) or isinstance(child.value, bool) or child.value <= 0:
            reader.problem(child, f"constraints.{key}", "expected a positive number")
        else:
            constraints[key] = float(child.value)
    return constraints


REPORT_KEYS = {
    "reference": "the point hypervolumes are measured from: {objective: value}, e.g. {val_error: 0.9, gmacs: 0.05}",
    "equivalence_pp": "the margin, in percentage points of error, within which a verdict may call two points "
                      "equal (two one-sided tests), e.g. 0.3",
    "cost_tolerance": "relative differences within which costs count as equal in dominance, overriding the "
                      "registry's: {objective: fraction}, e.g. {gmacs: 0.02}",
}


@dataclass(frozen=True)
class ReportOptions:
    """A spec's ``report:`` section (`REPORT_KEYS`)."""

    reference: dict[str, float] = field(default_factory=dict)
    equivalence_pp: float | None = None
    cost_tolerance: dict[str, float] = field(default_factory=dict)


def _read_report(reader: _Reader, node: Located | None) -> ReportOptions:
    """``report: {reference: ..., equivalence_pp: ..., cost_tolerance: ...}`` (`REPORT_KEYS`)."""
    if node is None:
        return ReportOptions()
    if not isinstance(node.value, dict):
        reader.problem(node, "report", "report is a mapping with " + ", ".join(REPORT_KEYS))
        return ReportOptions()
    for key, child in node.value.items():
        if key not in REPORT_KEYS:
            reader.problem(key_pos(child), f"report.{key}",
                           f"unknown key{did_you_mean(key, REPORT_KEYS)}; known: " + ", ".join(REPORT_KEYS))
    reference = _objective_numbers(reader, node.value.get("reference"), "reference", "expected a positive number",
                                   lambda v: v > 0)
    tolerance = _objective_numbers(reader, node.value.get("cost_tolerance"), "cost_tolerance",
                                   "expected a fraction in [0, 1)", lambda v: 0 <= v < 1)
    for key in [k for k in tolerance if OBJECTIVES[k].source == ERROR]:
        reader.problem(node.value["cost_tolerance"].value[key], f"report.cost_tolerance.{key}",
                       "errors have no tolerance: whether two errors tie is the statistics' to say")
        del tolerance[key]
    margin = node.value.get("equivalence_pp")
    equivalence = None
    if margin is not None:
        if not _finite_number(margin.value) or not 0 < margin.value < 100:
            reader.problem(margin, "report.equivalence_pp", "expected percentage points in (0, 100), e.g. 0.3")
        else:
            equivalence = float(margin.value)
    return ReportOptions(reference, equivalence, tolerance)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _objective_numbers(reader: _Reader, node: Located | None, name: str, expected: str,
                       valid: Callable[[float], bool]) -> dict[str, float]:
    """A ``report.NAME`` mapping of known objectives to numbers that satisfy ``valid``."""
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        reader.problem(node, f"report.{name}", f"{name} is a mapping of objective -> value")
        return {}
    numbers = {}
    for key, value in node.value.items():
        if key not in OBJECTIVES:
            reader.problem(key_pos(value), f"report.{name}.{key}",
                           f"unknown objective{did_you_mean(key, OBJECTIVES)}; known: " + ", ".join(OBJECTIVES))
        elif not _finite_number(value.value) or not valid(value.value):
            reader.problem(value, f"report.{name}.{key}", expected)
        else:
            numbers[key] = float(value.value)
    return numbers
