"""A point's training settings: its ``train.*`` knobs, missing ones at their defaults."""
from __future__ import annotations

from typing import Any

from gespace.vocab import KNOBS

TRAIN_KEYS = tuple(key for key in KNOBS if key.startswith("train."))


def train_config(point: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None,
                 epochs: int | None = None) -> dict[str, Any]:
    """Every ``train.*`` knob: ``overrides`` over ``point`` over the vocabulary's defaults.

    ``overrides`` keys may be given with or without the ``train.`` prefix;
    ``epochs`` (when not None) wins over both.
    """
    config = {key: KNOBS[key].default for key in TRAIN_KEYS}
    config.update({k: v for k, v in (point or {}).items() if k in config})
    for key, value in (overrides or {}).items():
        full = key if key.startswith("train.") else f"train.{key}"
        if full not in config:
            raise KeyError(f"unknown training knob {key!r}; known: {', '.join(TRAIN_KEYS)}")
        config[full] = value
    if epochs is not None:
        config["train.epochs"] = int(epochs)
    config["train.milestones"] = tuple(float(m) for m in config["train.milestones"])
    for key in ("train.epochs", "train.batch_size", "train.patience", "train.warmup_epochs",
                "train.pad"):
        config[key] = int(config[key])
    for key in ("train.lr", "train.momentum", "train.weight_decay", "train.gamma",
                "train.label_smoothing", "train.val_fraction", "train.subset"):
        config[key] = float(config[key])
    for key in ("train.nesterov", "train.no_wd_bn_bias", "train.flip"):
        config[key] = bool(config[key])
    return config
