"""Train a point (or a ready module) on a dataset: ``train`` and ``evaluate``.

One run: build the model, load the data onto the device, SGD with the
point's schedule, evaluate the validation split after every epoch, write a
checkpoint atomically, call ``callback(metrics)``, and at the end evaluate
the test split once. A loss that stops being finite, or exceeds
``DIVERGENCE_FACTOR`` times the chance-level loss ln(classes), ends the run as
``diverged``; a callback's ``StopTraining`` as ``stopped``; a failure of the
machine (a full disk: `gespace.errors.machine_failure`) raises to the caller,
since the run is to be trained again, not recorded as the point's; anything
else ends it as ``failed`` with the reason.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback as tb
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from gespace.errors import machine_failure
from gespace.data import DataError, FolderData, ImageData, Loaders, load_dataset, make_loaders
from gespace.train.checkpoint import (FORMAT, load_checkpoint, rng_state, save_atomic,
                                      set_rng_state, to_primitive)
from gespace.train.config import train_config
from gespace.train.device import DeviceSetup, setup_device
from gespace.train.faults import injected, no_space
from gespace.images import ImageBits, split_identity
from gespace.train.metrics import evaluate_loader, topk_correct
from gespace.train.optim import make_optimizer, set_lr
from gespace.train.progress import Progress
from gespace.train.result import StopTraining, TrainResult
from gespace.train.schedule import LRSchedule

CHECKPOINT_NAME = "checkpoint.pt"
RESULT_NAME = "result.json"
Point = dict[str, Any]
Callback = Callable[[dict[str, Any]], None]


# A mean loss this many times the chance-level loss ln(classes) has diverged, whether or not the
# blow-up has reached inf yet: at lr 1000 one run's epoch-1 loss is 6e16 with 2 threads and NaN
# with 1, and both are divergences. A network that learns stays within a few times chance level.
DIVERGENCE_FACTOR = 100


class Diverged(Exception):
    """Internal: the loss stopped being finite or exceeded the divergence ceiling."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _resolve_model(target: Point | nn.Module, point: Point | None, seed: int
                   ) -> tuple[nn.Module, Point, str | None]:
    if isinstance(target, nn.Module):
        point = dict(point if point is not None else getattr(target, "point", None) or {})
        return target, point, getattr(target, "point_id", None)
    from gespace.builder import build_model

    model = build_model(target, seed=seed)
    return model, dict(target), getattr(model, "point_id", None)


def data_shape(point: Point) -> dict[str, Any]:
    return {"channels": point.get("backbone.in_channels"),
            "image_size": point.get("backbone.image_size"),
            "num_classes": point.get("backbone.num_classes")}


def _resolve_data(data: Any, name: str, data_root: str | None, point: Point
                  ) -> ImageData | FolderData | Loaders:
    if isinstance(data, (ImageData, FolderData, Loaders)):
        return data
    return load_dataset(data or name, data_root, **data_shape(point))


class _Run:
    """The state of one training run (kept off the public API)."""

    def __init__(self, target, *, point, data, data_root, device, seed, out_dir, epochs, resume,
                 callback, progress, spec_hash, compile, overrides, split_seed, num_workers,
                 threads):
        self.t0 = time.perf_counter()
        self.seed = int(seed)
        self.callback = callback
        self.spec_hash = spec_hash
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.ckpt_path = self.out_dir / CHECKPOINT_NAME if self.out_dir else None
        self.result = TrainResult(status="failed", seed=self.seed)
        self.progress_enabled = progress
        self.resume = resume
        self.compile = compile

        torch.manual_seed(self.seed)
        self.model, self.point, self.result.point_id = _resolve_model(target, point, self.seed)
        self.config = train_config(self.point, overrides, epochs)
        self.setup: DeviceSetup = setup_device(device, threads=threads,
                                               precision=self.config["train.precision"])
        self.result.precision = self.setup.precision
        self.result.epochs = self.config["train.epochs"]
        dataset = _resolve_data(data, self.config["train.dataset"], data_root, self.point)
        if isinstance(dataset, Loaders):
            self.loaders = dataset
        else:
            self.loaders = make_loaders(
                dataset, batch_size=self.config["train.batch_size"], device=self.setup.device,
                val_fraction=self.config["train.val_fraction"], split_seed=split_seed,
                train_subset=self.config["train.subset"], pad=self.config["train.pad"],
                flip=self.config["train.flip"], seed=self.seed, num_workers=num_workers)
        outputs = self.point.get("backbone.num_classes")
        if outputs is not None and outputs < self.loaders.num_classes:
            raise ValueError(f"the model has {outputs} outputs but the data has "
                             f"{self.loaders.num_classes} classes")

        self.loss_ceiling = DIVERGENCE_FACTOR * math.log(max(2, self.loaders.num_classes))
        self.nonfinite_fault = injected("nonfinite-loss", self.result.point_id)
        self.no_space_fault = injected("no-space", self.result.point_id)
        self.setup = self.setup.prepare(self.model)
        self.forward = torch.compile(self.model) if compile else self.model
        self.optimizer = make_optimizer(self.model, self.config)
        self.schedule = LRSchedule(self.config, len(self.loaders.train))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.config["train.label_smoothing"])
        self.history: list[dict[str, Any]] = []
        self.last_val: dict[str, Any] | None = None  # the last validation pass, for its per-image bits
        self.start_epoch = 0
        self.best_val_error: float | None = None
        self.prior_wall = 0.0

    # -- checkpoints -----------------------------------------------------------------------
    def state(self, epoch_done: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "epoch": epoch_done,
            "point": to_primitive(self.point),
            "point_id": self.result.point_id,
            "spec_hash": self.spec_hash,
            "config": to_primitive(self.config),
            "precision": self.setup.precision,
            "data": to_primitive(self.loaders.spec),
            "seed": self.seed,
            "history": to_primitive(self.history),
            "best_val_error": self.best_val_error,
            "wall_time": self.prior_wall + time.perf_counter() - self.t0,
            "rng": rng_state(),
        }

    def restore(self) -> bool:
        if not (self.resume and self.ckpt_path and self.ckpt_path.exists()):
            return False
        # On the CPU: the RNG states must stay CPU tensors; weights and optimizer state move to the
        # model's device as they load.
        ckpt = load_checkpoint(self.ckpt_path, map_location="cpu")
        if self.spec_hash is not None and ckpt.get("spec_hash") not in (None, self.spec_hash):
            raise ValueError(f"{self.ckpt_path} was written for spec {ckpt['spec_hash']}, "
                             f"not {self.spec_hash}")
        if ckpt.get("point") != to_primitive(self.point):
            raise ValueError(f"{self.ckpt_path} holds another point ({ckpt.get('point_id')})")
        if ckpt.get("precision") and ckpt["precision"] != self.setup.precision:
            # A run goes on in the precision it started in, on whatever device resumes it.
            self.setup = dataclasses.replace(self.setup, precision=ckpt["precision"])
            self.result.precision = self.setup.precision
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"])
        self.start_epoch = int(ckpt["epoch"])
        self.history = list(ckpt["history"])
        self.best_val_error = ckpt.get("best_val_error")
        self.prior_wall = float(ckpt.get("wall_time", 0.0))
        set_rng_state(ckpt["rng"])
        return True

    # -- one epoch -------------------------------------------------------------------------
    def train_epoch(self, epoch: int, bar: Progress) -> dict[str, Any]:
        loader, model, opt = self.loaders.train, self.forward, self.optimizer
        loader.set_epoch(epoch)
        self.model.train()
        steps = len(loader)
        bar.start_epoch(epoch, self.config["train.epochs"], steps)
        device = self.setup.device
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        images = 0
        start = last_check = time.perf_counter()
        step0 = epoch * steps
        lr = self.schedule.lr(step0)
        for i, (x, y) in enumerate(loader):
            lr = self.schedule.lr(step0 + i)
            set_lr(opt, lr)
            if self.setup.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self.setup.autocast():
                logits = model(x)
                loss = self.criterion(logits, y)
            if self.nonfinite_fault and epoch == 0 and i == 0:
                loss = loss * float("nan")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            correct += logits.detach().argmax(1).eq(y).sum()
            images += len(y)
            now = time.perf_counter()
            if now - last_check >= 0.5:
                last_check = now
                mean_loss = loss_sum.item() / (i + 1)
                self.check_loss(mean_loss, "training loss", f"at epoch {epoch + 1}, step {i + 1} (lr {lr:.4g})")
                bar.update(i + 1, mean_loss, images / (now - start))
        if self.setup.device.type == "cuda":
            torch.cuda.synchronize(self.setup.device)
        train_time = time.perf_counter() - start
        train_loss = loss_sum.item() / max(1, steps)
        self.check_loss(train_loss, "training loss", f"in epoch {epoch + 1} (lr {lr:.4g})")
        return {"train_loss": train_loss, "train_error": 1.0 - correct.item() / max(1, images),
                "lr": lr, "images_per_s": images / max(train_time, 1e-9),
                "train_time": train_time, "images": images}

    def check_loss(self, loss: float, what: str, when: str) -> None:
        """`Diverged` if ``loss`` is not finite or exceeds the divergence ceiling."""
        if not math.isfinite(loss):
            raise Diverged(f"{what} became {loss} {when}")
        if loss > self.loss_ceiling:
            raise Diverged(f"{what} became {loss:.4g} {when}, over {DIVERGENCE_FACTOR}x the "
                           f"chance-level loss ln({self.loaders.num_classes})")

    def evaluate(self, loader) -> dict[str, float]:
        return evaluate_loader(self.forward, loader, autocast=self.setup.autocast,
                               channels_last=self.setup.channels_last)

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> TrainResult:
        result = self.result
        resumed = self.restore()
        epochs = self.config["train.epochs"]
        bar = Progress(self.progress_enabled, title=result.point_id or "")
        try:
            if resumed:
                bar.message(f"resuming {self.ckpt_path} after epoch {self.start_epoch}")
            for epoch in range(self.start_epoch, epochs):
                epoch_start = time.perf_counter()
                metrics = {"epoch": epoch + 1, "epochs": epochs}
                metrics.update(self.train_epoch(epoch, bar))
                monitored = metrics["train_loss"]
                if self.loaders.val is not None:
                    val_start = time.perf_counter()
                    val = self.last_val = self.evaluate(self.loaders.val)
                    metrics["val_time"] = time.perf_counter() - val_start
                    self.check_loss(val["loss"], "validation loss", f"after epoch {epoch + 1}")
                    metrics.update(val_loss=val["loss"], val_top1_error=val["top1_error"],
                                   val_top5_error=val["top5_error"])
                    monitored = val["loss"]
                    if self.best_val_error is None or val["top1_error"] < self.best_val_error:
                        self.best_val_error = val["top1_error"]
                self.schedule.epoch_end(epoch, monitored)
                metrics["best_val_error"] = self.best_val_error
                metrics["epoch_time"] = time.perf_counter() - epoch_start
                self.history.append(metrics)
                if self.ckpt_path is not None:
                    if self.no_space_fault:
                        raise no_space(self.ckpt_path)
                    save_atomic(self.state(epoch + 1), self.ckpt_path)
                    result.checkpoint = str(self.ckpt_path)
                metrics = {**metrics, "point_id": result.point_id, "checkpoint": result.checkpoint}
                bar.end_epoch(metrics)
                if self.callback is not None:
                    try:
                        self.callback(metrics)
                    except (StopTraining, StopIteration) as stop:
                        result.status = "stopped"
                        result.reason = (f"stopped by the callback after epoch {epoch + 1}"
                                         + (f": {stop}" if str(stop) else ""))
                        return self.finish(test=False)
            result.status = "ok"
            return self.finish(test=True)
        except Diverged as err:
            result.status = "diverged"
            result.reason = str(err)
            bar.message(f"[red]diverged[/red]: {err}")
            return self.finish(test=False)
        except Exception as err:  # keep the history of the epochs that did complete
            if machine_failure(err):
                raise
            result.status = "failed"
            result.reason = _one_line(err)
            result.traceback = tb.format_exc()
            return self.finish(test=False)
        finally:
            bar.close()

    def finish(self, test: bool) -> TrainResult:
        result = self.result
        if test:
            scores = self.evaluate(self.loaders.test)
            result.test_error = scores["top1_error"]
            result.test_top5_error = scores["top5_error"]
            if self.loaders.val is not None and self.last_val is None:  # resumed from a finished checkpoint
                self.last_val = self.evaluate(self.loaders.val)
            dataset = self.loaders.spec.get("name") or self.config["train.dataset"]
            result.images = {split: ImageBits.of(s["correct"], split_identity(dataset, split, s["labels"])).to_json()
                             for split, s in (("val", self.last_val), ("test", scores)) if s is not None}
        result.history = [dict(h) for h in self.history]
        result.epochs_completed = len(self.history)
        result.best_val_error = self.best_val_error
        if self.history:
            result.final_val_error = self.history[-1].get("val_top1_error")
        if self.ckpt_path is not None and self.ckpt_path.exists():
            result.checkpoint = str(self.ckpt_path)
        result.wall_time = self.prior_wall + time.perf_counter() - self.t0
        write_result(result, self.out_dir)
        return result


def write_result(result: TrainResult, out_dir: Path | None) -> None:
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{RESULT_NAME}.{os.getpid()}.tmp"
    tmp.write_text(result.to_json(indent=1))
    os.replace(tmp, out_dir / RESULT_NAME)


def train(target: Point | nn.Module, *, point: Point | None = None, data: Any = None,
          data_root: str | os.PathLike | None = None, device: str | torch.device = "auto",
          seed: int = 0, out_dir: str | os.PathLike | None = None, epochs: int | None = None,
          resume: bool = False, callback: Callback | None = None, progress: bool = True,
          spec_hash: str | None = None, compile: bool = False,
          overrides: dict[str, Any] | None = None, split_seed: int = 0,
          num_workers: int | None = None, threads: int | None = None) -> TrainResult:
    """Train ``target`` (a point, built with ``build_model(point, seed=seed)``, or a module).

    ``point``: the training knobs for a module (default: its ``.point``);
    missing ``train.*`` knobs take the vocabulary's defaults, ``overrides``
    (``{"lr": 0.05}`` or ``{"train.lr": 0.05}``) and ``epochs`` replace them.
    ``data``: a dataset name, an ``ImageData``/``FolderData``/``Loaders``, or
    None for the point's ``train.dataset``; ``data_root`` locates its files.
    ``out_dir``: where ``checkpoint.pt`` (every epoch) and ``result.json`` go;
    ``resume`` continues from its checkpoint. ``callback(metrics)`` runs after
    every epoch and may raise ``StopTraining``. ``split_seed`` fixes the
    validation split (the same for every seed, so trials compare on one split).
    Raises only for a failure of the machine (a full disk: `gespace.errors.machine_failure`),
    which is not the point's, and KeyboardInterrupt and the like; anything else ends in the
    returned result: see ``TrainResult.status``.
    """
    t0 = time.perf_counter()
    try:
        run = _Run(target, point=point, data=data, data_root=data_root, device=device, seed=seed,
                   out_dir=out_dir, epochs=epochs, resume=resume, callback=callback,
                   progress=progress, spec_hash=spec_hash, compile=compile, overrides=overrides,
                   split_seed=split_seed, num_workers=num_workers, threads=threads)
        return run.run()
    except Exception as err:  # the caller gets a result, whatever broke that is the point's
        if machine_failure(err):
            raise
        result = TrainResult(status="failed", reason=_one_line(err), seed=int(seed),
                             traceback=tb.format_exc(), wall_time=time.perf_counter() - t0)
        if isinstance(target, nn.Module):
            result.point_id = getattr(target, "point_id", None)
        try:
            write_result(result, Path(out_dir) if out_dir is not None else None)
        except OSError:
            pass
        return result


# What restoring a checkpoint raises for a user's mistake (a missing file or dataset, a bad checkpoint).
RESTORE_ERRORS = (OSError, ValueError, KeyError, DataError)


@dataclass
class RestoredRun:
    """A trained model rebuilt from its checkpoint, with the data it was trained on."""

    model: nn.Module
    loaders: Loaders
    setup: DeviceSetup
    checkpoint: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.checkpoint.get("point_id") or "model")


def restore(checkpoint: str | os.PathLike, *, model: nn.Module | None = None, data: Any = None,
            data_root: str | os.PathLike | None = None, device: str | torch.device = "auto",
            batch_size: int | None = None) -> RestoredRun:
    """Rebuild a checkpoint's model (from its point, or pass ``model``) and its data splits.

    The data comes from the checkpoint's data spec (or pass ``data``/``data_root``),
    with the same validation split and normalisation statistics.
    """
    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    point = dict(ckpt.get("point") or {})
    config = dict(ckpt.get("config") or train_config(point))
    # Scored in the precision it trained in: the checkpoint's, resolved when it trained ('auto'
    # here would resolve for this device); checkpoints older than the knob trained in fp32.
    setup = setup_device(device, precision=ckpt.get("precision") or config.get("train.precision", "fp32"))
    if model is None:
        if "backbone.arch" not in point:
            raise ValueError(f"{checkpoint} holds no point to build (a module was trained): "
                             f"pass it as model=")
        from gespace.builder import build_model

        model = build_model(point, seed=None)
    model.load_state_dict(ckpt["model"])
    setup = setup.prepare(model)
    spec = dict(ckpt.get("data") or {})
    if isinstance(data, Loaders):
        loaders = data
    else:
        if not isinstance(data, (ImageData, FolderData)):
            name = data or spec.get("name") or config["train.dataset"]
            root = data_root if data_root is not None else spec.get("root")
            data = load_dataset(name, root, options=spec.get("options"), **data_shape(point))
        loaders = make_loaders(data, batch_size=batch_size or config["train.batch_size"],
                               device=setup.device,
                               val_fraction=spec.get("val_fraction", config["train.val_fraction"]),
                               split_seed=spec.get("split_seed", 0),
                               train_subset=spec.get("train_subset", 1.0),
                               stats=(spec["mean"], spec["std"]) if "mean" in spec else None)
    return RestoredRun(model, loaders, setup, ckpt)


def evaluate(checkpoint: str | os.PathLike, split: str = "val", *, model: nn.Module | None = None,
             data: Any = None, data_root: str | os.PathLike | None = None,
             device: str | torch.device = "auto", batch_size: int | None = None) -> dict[str, Any]:
    """Load ``checkpoint`` and score it on ``split`` ('val' or 'test') (see ``restore``).

    Returns loss, top1_error, top5_error, images, epoch.
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', not {split!r}")
    run = restore(checkpoint, model=model, data=data, data_root=data_root, device=device,
                  batch_size=batch_size)
    loader = run.loaders.val if split == "val" else run.loaders.test
    if loader is None:
        raise ValueError(f"{checkpoint}: the run had no validation split (val_fraction 0)")
    scores = evaluate_loader(run.model, loader, autocast=run.setup.autocast,
                             channels_last=run.setup.channels_last)
    return {"split": split, **scores, "epoch": int(run.checkpoint["epoch"]),
            "point_id": run.checkpoint.get("point_id"), "checkpoint": str(checkpoint)}


__all__ = ["RESTORE_ERRORS", "RestoredRun", "evaluate", "restore", "topk_correct", "train"]
