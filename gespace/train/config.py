"""A point's training settings: its ``train.*`` knobs, missing ones at their defaults."""
from __future__ import annotations

from typing import Any

from gespace.grammar.domains import check_value
from gespace.vocab import KNOBS

TRAIN_KEYS = tuple(key for key in KNOBS if key.startswith("train."))


def train_config(point: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None,
                 epochs: int | None = None) -> dict[str, Any]:
    """Every ``train.*`` knob: ``overrides`` over ``point`` over the vocabulary's defaults, each
    value normalised by the vocabulary's own check (`gespace.grammar.domains.check_value`, the
    one rule a canonical point's values already passed).

    ``overrides`` keys may be given with or without the ``train.`` prefix;
    ``epochs`` (when not None) wins over both. ValueError for a value the knob does not take.
    """
    config = {key: KNOBS[key].default for key in TRAIN_KEYS}
    given = {k: v for k, v in (point or {}).items() if k in config}
    for key, value in (overrides or {}).items():
        full = key if key.startswith("train.") else f"train.{key}"
        if full not in config:
            raise KeyError(f"unknown training knob {key!r}; known: {', '.join(TRAIN_KEYS)}")
        given[full] = value
    if epochs is not None:
        given["train.epochs"] = epochs
    for key, value in given.items():
        try:
            config[key] = check_value(key, value)
        except ValueError as err:
            raise ValueError(f"{key}: {err}") from None
    return config
