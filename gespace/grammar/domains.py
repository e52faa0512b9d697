"""Knob domains (fixed, choice, int range, float range) and value checks against the vocabulary."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from gespace.grammar.errors import did_you_mean
from gespace.vocab import KNOBS, Knob


def check_value(key: str, value: Any) -> Any:
    """``value`` normalised for knob ``key``; ValueError with a user-facing message if it is not one."""
    knob = KNOBS[key]
    if knob.kind == "enum":
        for member in knob.values:
            if value == member and type(value) is not bool:
                return member
        listed = ", ".join(str(v) for v in knob.values)
        raise ValueError(f"{value!r} is not one of {listed}{did_you_mean(value, knob.values)}")
    if knob.kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        return _in_bounds(knob, value)
    if knob.kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return _in_bounds(knob, _finite(float(value)))
    if knob.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if knob.kind == "stages":
        if value == "all":
            return value
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"expected a list of stage numbers or 'all', got {value!r}")
        return tuple(sorted(set(value)))
    if knob.kind == "floats":
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"expected a list of numbers, got {value!r}")
        return tuple(_finite(float(v)) for v in value)
    raise AssertionError(f"unknown knob kind {knob.kind}")


def _finite(value: float) -> float:
    # NaN passes every bound check (all its comparisons are false) and infinities break ranges.
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return value


def _in_bounds(knob: Knob, value: float) -> Any:
    if (knob.low is not None and value < knob.low) or (knob.high is not None and value > knob.high):
        raise ValueError(f"{value} is outside [{knob.low}, {knob.high}]")
    return value


@dataclass(frozen=True)
class Fixed:
    """One value. ``explicit`` is False for a knob the spec leaves at the vocabulary default
    (None: resolved from the point, e.g. an architecture's default depth)."""

    value: Any
    explicit: bool = False

    def values(self) -> list[Any]:
        return [self.value]

    def sample(self, rng: random.Random) -> Any:
        return self.value

    def from_unit(self, u: float) -> Any:
        return self.value

    def contains(self, value: Any) -> bool:
        return value == self.value

    def describe(self) -> str:
        return _show(self.value) if self.explicit else f"{_show(self.value)} (default)"


@dataclass(frozen=True)
class Choice:
    options: tuple

    def values(self) -> list[Any]:
        return list(self.options)

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.options)

    def from_unit(self, u: float) -> Any:
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]

    def contains(self, value: Any) -> bool:
        return value in self.options

    def describe(self) -> str:
        return "choice " + ", ".join(_show(v) for v in self.options)


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1

    def values(self) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.values())

    def from_unit(self, u: float) -> Any:
        count = (self.high - self.low) // self.step + 1
        return self.low + self.step * min(int(u * count), count - 1)

    def contains(self, value: Any) -> bool:
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def describe(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"int [{self.low}, {self.high}]{step}"


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def values(self) -> None:
        return None  # continuous

    def representatives(self) -> list[float]:
        """Values that stand for the range when exploring which conditions can hold."""
        middle = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return [self.low, middle, self.high]

    def sample(self, rng: random.Random) -> Any:
        return self.from_unit(rng.random())

    def from_unit(self, u: float) -> Any:
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


Domain = Fixed | Choice | IntRange | FloatRange


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
