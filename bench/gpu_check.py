"""The GPU check: CUDA tests, ResNet-20 throughput, full-budget demo anchors, ResNet-50 steps.

    python bench/gpu_check.py --out DIR [--data-root DIR]      # on one GPU: at most 8 minutes
    python bench/gpu_check.py --dry-run [--out DIR]            # every section on the CPU, tiny sizes

Sections (``--sections`` picks some, by name or letter):
  a. tests       ``pytest -m cuda tests/test_cuda.py`` in a subprocess: pass/fail counts.
  b. throughput  the demo ResNet-20 (GE-θ⁻ of spaces/fashion-demo.yaml) on 1x28x28 data:
                 a bare train step (bf16 autocast, channels_last) eager, CUDA-graph-replayed and
                 torch.compile'd; ``gespace.train`` eager and compiled; 1/2/4/8 trainer
                 processes packed on the one GPU (aggregate images/s).
  c. anchors     the demo space's five anchors under 3 seeds at its full recipe (15 epochs,
                 whole training split) on Fashion-MNIST: test and validation errors with
                 95% t intervals. Skipped, with the estimate, when the first trial says the
                 section's budget would not hold them.
  d. resnet50    train-step images/s of the anchors of spaces/paper-resnet50.yaml (bf16,
                 channels_last, synthetic 224x224 input) against timm's resnet50 when importable.

Each section runs in its own process with its own time budget (``--budget NAME=S``), so one
that breaks or hangs costs only itself. ``OUT/gpu_check.json`` and ``OUT/gpu_check.md`` are
rewritten after every section; ``OUT/gpu_check.log`` holds the sections' output. The check
imports neither Ray, Optuna nor fvcore (the JSON's ``env.heavy_imports`` says so), so the
device image needs nothing but the checkout and the data (see scripts/gpu_check.sh).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the check runs from a bare checkout: gespace need not be installed

SCRIPT = Path(__file__).resolve()
DEMO_SPACE = ROOT / "spaces" / "fashion-demo.yaml"
R50_SPACE = ROOT / "spaces" / "paper-resnet50.yaml"
SECTIONS = ("tests", "throughput", "anchors", "resnet50")
LETTERS = dict(zip("abcd", SECTIONS))
HEAVY = ("ray", "optuna", "fvcore")
GRACE_S = 10.0  # a section process gets this beyond its budget before it is killed
# Seconds of one H100 (8 minutes in all); a section stops starting work it cannot finish in time.
GPU_BUDGETS = {"tests": 50.0, "throughput": 165.0, "anchors": 190.0, "resnet50": 55.0}
DRY_BUDGETS = {"tests": 120.0, "throughput": 240.0, "anchors": 300.0, "resnet50": 120.0}


@dataclass
class Config:
    """Sizes of every section; ``dry_run()`` gives the CPU's tiny ones."""

    dry_run: bool = False
    device: str = "cuda"
    threads: int | None = None            # CPU intra-op threads per process (None: trainer's choice)
    data_root: str | None = None
    sections: tuple[str, ...] = SECTIONS
    budgets: dict[str, float] = field(default_factory=lambda: dict(GPU_BUDGETS))
    # b. throughput
    anchor: str = "ge-theta-minus"
    batches: tuple[int, ...] = (128, 512)
    warmup_steps: int = 20
    window_steps: int = 30
    windows: int = 5
    trainer_images: int = 51200           # per epoch; epoch 1 warms up, epoch 2 is timed
    packs: tuple[int, ...] = (1, 2, 4, 8)
    pack_batch: int = 128
    pack_images: int = 51200
    compile_backend: str = "inductor"
    compile_reserve_s: float = 45.0       # least budget left to start a compile measurement
    trainer_compile: bool = True
    # c. anchors
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int | None = None             # None: the space's recipe
    trial_procs: int = 8
    limit_train: int | None = None        # None: the whole training split
    limit_test: int | None = None
    # d. resnet50
    r50_batch: int = 128
    r50_size: int = 224
    r50_warmup: int = 3
    r50_rounds: int = 4
    r50_steps: int = 5

    @classmethod
    def dry_run_config(cls) -> "Config":
        # One thread per process: on a shared 2-core CPU a second OpenMP thread makes steps 50x slower.
        return cls(dry_run=True, device="cpu", threads=1, budgets=dict(DRY_BUDGETS),
                   batches=(16, 32), warmup_steps=1, window_steps=2, windows=2,
                   trainer_images=128, packs=(1, 2), pack_batch=16, pack_images=64,
                   compile_backend="eager", compile_reserve_s=10.0, trainer_compile=False,
                   seeds=(0,), epochs=1, trial_procs=1, limit_train=1024, limit_test=256,
                   r50_batch=2, r50_size=64, r50_warmup=1, r50_rounds=2, r50_steps=1)


# --- shared helpers -------------------------------------------------------------------------
def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def write_json(path: Path, data: Any) -> None:
    """Atomically: a report killed mid-write must still parse."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def load_config(path: str | os.PathLike) -> Config:
    raw = json.loads(Path(path).read_text())
    for key, value in raw.items():
        if isinstance(value, list):
            raw[key] = tuple(value)
    return Config(**raw)


def sync(device: Any) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class Recorder:
    """A section's status and figures, saved after every change so a killed section keeps them."""

    def __init__(self, path: Path, budget_s: float) -> None:
        self.path = path
        self.t0 = time.perf_counter()
        self.budget_s = budget_s
        self.data: dict[str, Any] = {"status": "running", "reason": "", "figures": {}}
        self.save()

    @property
    def figures(self) -> dict[str, Any]:
        return self.data["figures"]

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def finish(self, status: str, reason: str = "") -> None:
        self.data.update(status=status, reason=reason)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)


def measure(rec: Recorder, rows: list[dict[str, Any]], row: dict[str, Any], need_s: float,
            run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Fill ``row`` from ``run()`` unless less than ``need_s`` of the budget is left; a failure
    is recorded in the row, never raised, so the other measurements still run."""
    rows.append(row)
    if rec.left() < need_s:
        row.update(status="skipped", reason=f"{rec.left():.0f} s of the budget left, {need_s:.0f} s needed")
    else:
        start = time.perf_counter()
        try:
            row.update(run())
            row.setdefault("status", "ok")
        except Exception as err:  # one broken path must not hide the others
            row.update(status="failed", reason=one_line(err))
            traceback.print_exc()
        row["wall_s"] = round(time.perf_counter() - start, 2)
    print(f"  {json.dumps(row, default=str)}", flush=True)
    rec.save()
    return row


# --- a. the CUDA tests ----------------------------------------------------------------------
def section_tests(cfg: Config, rec: Recorder, tmp: Path) -> None:
    junit = tmp / "junit.xml"
    args = ["-m", "cuda", "tests/test_cuda.py", "-q", "-p", "no:cacheprovider"]
    rec.figures["command"] = " ".join(["pytest", *args])
    cmd = [sys.executable, "-m", "pytest", *args, f"--junitxml={junit}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=max(1.0, rec.left() - 2))
    print(proc.stdout, proc.stderr, sep="\n", flush=True)
    if not junit.exists():
        raise RuntimeError(f"pytest exited with {proc.returncode} and wrote no report: "
                           f"{(proc.stdout + proc.stderr).strip().splitlines()[-1:]}")
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = []
    for case in suite.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                text = (child.get("message") or "").strip()
                message = text.splitlines()[0][:300] if text else ""
                break
        cases.append({"name": case.get("name"), "outcome": outcome, "message": message})
    counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "error", "skipped")}
    rec.figures.update(counts, cases=cases, returncode=proc.returncode)
    bad = counts["failed"] + counts["error"]
    if bad:
        rec.finish("failed", f"{bad} of {len(cases)} CUDA tests failed or errored")
    elif not cases:
        rec.finish("failed", f"pytest collected no CUDA tests (exit {proc.returncode})")


# --- b. ResNet-20 throughput ----------------------------------------------------------------
def demo_point(anchor: str) -> dict[str, Any]:
    from gespace.grammar import load_space

    return load_space(str(DEMO_SPACE)).anchor(anchor)


def step_fn(model: Any, x: Any, y: Any, mode: str, backend: str) -> tuple[Callable[[], None], float]:
    """One SGD train step (bf16 autocast) on the fixed batch ``x, y``, and its set-up seconds.

    ``graph`` captures forward, backward and optimizer step in one CUDA graph (the LR is baked
    in: a trainer adopting it needs the LR in a tensor); ``compile`` compiles the forward.
    """
    import torch
    import torch.nn.functional as F

    device = x.device.type
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    forward = torch.compile(model, backend=backend, dynamic=False) if mode == "compile" else model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        # The autocast weight cache must be off while a graph is captured.
        with torch.autocast(device, dtype=torch.bfloat16, cache_enabled=mode != "graph"):
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()

    start = time.perf_counter()
    if mode == "eager":
        return step, 0.0
    if mode == "compile":
        step()
        sync(device)
        return step, time.perf_counter() - start
    side = torch.cuda.Stream()  # warm-up off the capture stream, as torch.cuda.graphs asks
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        with torch.autocast(device, dtype=torch.bfloat16, cache_enabled=False):
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
    sync(device)
    return graph.replay, time.perf_counter() - start


def step_rate(step: Callable[[], None], batch: int, cfg: Config) -> dict[str, Any]:
    """Images/s of the median timed window after the warm-up steps."""
    for _ in range(cfg.warmup_steps):
        step()
    sync(cfg.device)
    times = []
    for _ in range(cfg.windows):
        start = time.perf_counter()
        for _ in range(cfg.window_steps):
            step()
        sync(cfg.device)
        times.append((time.perf_counter() - start) / cfg.window_steps)
    seconds = statistics.median(times)
    return {"images_per_s": batch / seconds, "ms_per_step": seconds * 1e3}


def bare_step(cfg: Config, mode: str, batch: int) -> dict[str, Any]:
    import torch

    from gespace import build_model
    from gespace.train.device import setup_device

    point = demo_point(cfg.anchor)
    model = build_model(point, seed=0)
    setup = setup_device(cfg.device, threads=cfg.threads).prepare(model)  # the trainer's layout rule
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, point["backbone.in_channels"], point["backbone.image_size"],
                    point["backbone.image_size"], generator=gen).to(setup.device)
    if setup.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(point["backbone.num_classes"], (batch,), generator=gen).to(setup.device)
    model.train()
    step, setup_s = step_fn(model, x, y, mode, cfg.compile_backend)
    return {**step_rate(step, batch, cfg), "setup_s": round(setup_s, 2), "channels_last": setup.channels_last}


def synthetic_images(n_train: int, n_test: int, seed: int = 0) -> Any:
    """Fashion-MNIST-shaped data (1x28x28, 10 classes) that needs no files."""
    from gespace.data import make_synthetic

    return make_synthetic(n_train, n_test, channels=1, image_size=28, num_classes=10, seed=seed)


def trainer_rate(cfg: Config, batch: int, compile: bool) -> dict[str, Any]:
    from gespace.train import train

    result = train(demo_point(cfg.anchor), data=synthetic_images(cfg.trainer_images, batch),
                   device=cfg.device, epochs=2, compile=compile, threads=cfg.threads, progress=False,
                   overrides={"batch_size": batch, "val_fraction": 0.0})
    if not result.ok:
        raise RuntimeError(f"trainer run {result.status}: {result.reason}")
    first, timed = result.history
    return {"images_per_s": timed["images_per_s"], "first_epoch_s": round(first["epoch_time"], 2),
            "images": timed["images"]}


def launch_worker(job: dict[str, Any], path: Path) -> subprocess.Popen:
    write_json(path, job)
    return subprocess.Popen([sys.executable, str(SCRIPT), "--worker", str(path)], cwd=ROOT,
                            env=child_env())


def worker_result(job: dict[str, Any], proc: subprocess.Popen) -> dict[str, Any]:
    path = Path(job["result"])
    if path.exists():
        return json.loads(path.read_text())
    return {"status": "failed", "reason": f"worker exited with {proc.returncode} and no result (see the log)"}


def packed_rate(cfg: Config, procs: int, rec: Recorder, tmp: Path) -> dict[str, Any]:
    """``procs`` trainer processes: each warms up one epoch, waits at a barrier, then all train
    one timed epoch together; aggregate = their images / (last finish - go)."""
    folder = Path(tempfile.mkdtemp(prefix=f"pack{procs}_", dir=tmp))
    go = folder / "go"
    wait_s = max(5.0, rec.left() - 5)
    jobs = [{"kind": "pack", "rank": i, "anchor": cfg.anchor, "batch": cfg.pack_batch,
             "images": cfg.pack_images, "device": cfg.device, "threads": cfg.threads,
             "ready": str(folder / f"ready{i}"), "go": str(go), "wait_s": wait_s,
             "result": str(folder / f"result{i}.json")} for i in range(procs)]
    running = [launch_worker(job, folder / f"job{i}.json") for i, job in enumerate(jobs)]
    try:
        while rec.left() > 2 and not all(Path(j["ready"]).exists() for j in jobs):
            if any(p.poll() is not None for p in running):
                break  # one died before the barrier: release the others at once
            time.sleep(0.01)
        go_time = time.time()
        go.touch()
        for proc in running:
            proc.wait(timeout=max(1.0, rec.left() - 1))
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = [worker_result(job, proc) for job, proc in zip(jobs, running)]
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {procs} processes failed: {failed[0]['reason']}")
    images = sum(r["images"] for r in results)
    return {"aggregate_images_per_s": images / (max(r["end"] for r in results) - go_time),
            "per_process_images_per_s": [r["images_per_s"] for r in results],
            "late_start_s": round(max(r["start"] for r in results) - go_time, 3)}


def section_throughput(cfg: Config, rec: Recorder, tmp: Path) -> None:
    import torch

    rec.figures.update(anchor=cfg.anchor, precision="bf16", input="1x28x28", batches=list(cfg.batches),
                       rows=[], packing=[], pack_batch=cfg.pack_batch, pack_images=cfg.pack_images)
    rows = rec.figures["rows"]
    cuda = cfg.device == "cuda" and torch.cuda.is_available()
    for batch in cfg.batches:
        measure(rec, rows, {"path": "step", "mode": "eager", "batch": batch}, 5,
                lambda: bare_step(cfg, "eager", batch))
    for batch in cfg.batches:
        measure(rec, rows, {"path": "trainer", "mode": "eager", "batch": batch}, 10,
                lambda: trainer_rate(cfg, batch, compile=False))
    for procs in cfg.packs:
        row = measure(rec, rec.figures["packing"], {"processes": procs, "batch": cfg.pack_batch}, 15,
                      lambda: packed_rate(cfg, procs, rec, tmp))
        if row["status"] != "ok":
            break  # more processes would not fare better
    for batch in cfg.batches:
        row = {"path": "step", "mode": "graph", "batch": batch}
        if cuda:
            measure(rec, rows, row, 5, lambda: bare_step(cfg, "graph", batch))
        else:
            rows.append({**row, "status": "skipped", "reason": "CUDA graphs need a CUDA device"})
    for batch in cfg.batches:
        measure(rec, rows, {"path": "step", "mode": "compile", "batch": batch, "backend": cfg.compile_backend},
                cfg.compile_reserve_s, lambda: bare_step(cfg, "compile", batch))
    for batch in cfg.batches:
        row = {"path": "trainer", "mode": "compile", "batch": batch}
        if cfg.trainer_compile:
            measure(rec, rows, row, cfg.compile_reserve_s, lambda: trainer_rate(cfg, batch, compile=True))
        else:
            rows.append({**row, "status": "skipped", "reason": "dry run: inductor takes minutes on a CPU"})
    rec.save()


# --- c. the demo anchors at the full recipe -------------------------------------------------
def fashion_data(root: str | None, point: dict[str, Any], limit_train: int | None,
                 limit_test: int | None) -> Any:
    from gespace.data import load_dataset

    data = load_dataset(point["train.dataset"], root, channels=point["backbone.in_channels"],
                        image_size=point["backbone.image_size"], allow_download=False)
    if limit_train or limit_test:
        data = dataclasses.replace(data, train_images=data.train_images[:limit_train],
                                   train_labels=data.train_labels[:limit_train],
                                   test_images=data.test_images[:limit_test],
                                   test_labels=data.test_labels[:limit_test])
    return data


def t_interval(values: list[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% t interval (None under one value)."""
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    return mean, float(stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)))


def anchor_table(space: Any, trials: list[dict[str, Any]], params: dict[str, float]) -> list[dict[str, Any]]:
    from gespace.grammar import anchor_label

    table = []
    for name, _ in space.anchors():
        done = [t for t in trials if t["anchor"] == name and t["status"] == "ok"]
        row: dict[str, Any] = {"anchor": name, "label": anchor_label(name), "params_m": params[name],
                               "n": len(done)}
        if done:
            for key, column in (("test_error", "test"), ("final_val_error", "val")):
                mean, half = t_interval([100 * t[key] for t in done])
                row[f"{column}_error_pct"], row[f"{column}_ci95_pct"] = mean, half
            row["wall_s_mean"] = statistics.fmean(t["wall_s"] for t in done)
        table.append(row)
    return table


def section_anchors(cfg: Config, rec: Recorder, tmp: Path) -> None:
    from gespace import build_model
    from gespace.grammar import load_space
    from gespace.train import train_config

    space = load_space(str(DEMO_SPACE))
    names = [name for name, _ in space.anchors()]
    first = space.anchor(names[0])
    # Fail fast on missing data, and decompress it once before the workers read it.
    data = fashion_data(cfg.data_root, first, cfg.limit_train, cfg.limit_test)
    epochs = cfg.epochs or train_config(first)["train.epochs"]
    params = {name: round(sum(p.numel() for p in build_model(space.anchor(name)).parameters()) / 1e6, 4)
              for name in names}
    trials: list[dict[str, Any]] = []
    rec.figures.update(space=space.name, epochs=epochs, seeds=list(cfg.seeds), procs=cfg.trial_procs,
                       train_images=len(data.train_images), test_images=len(data.test_images),
                       val_fraction=train_config(first)["train.val_fraction"], trials=trials, table=[])
    del data
    # Seeds outer: a cut-short section still has every anchor under its first seed.
    pending = deque({"kind": "anchor", "anchor": name, "seed": seed, "epochs": epochs,
                     "data_root": cfg.data_root, "limit_train": cfg.limit_train,
                     "limit_test": cfg.limit_test, "device": cfg.device, "threads": cfg.threads,
                     "result": str(tmp / f"trial-{name}-{seed}.json")}
                    for seed in cfg.seeds for name in names)
    total = len(pending)
    running: dict[subprocess.Popen, tuple[dict[str, Any], float]] = {}
    launched_at = rec.elapsed()
    stop: tuple[str, str] | None = None  # (status, why)
    try:
        while (pending or running) and not stop:
            while pending and len(running) < cfg.trial_procs:
                job = pending.popleft()
                running[launch_worker(job, Path(job["result"]).with_suffix(".job"))] = (job, time.perf_counter())
            time.sleep(0.1)
            for proc in [p for p in running if p.poll() is not None]:
                job, started = running.pop(proc)
                result = worker_result(job, proc)
                trials.append({"anchor": job["anchor"], "seed": job["seed"], **result})
                print(f"  trial {job['anchor']} seed {job['seed']}: {result['status']} "
                      f"{result.get('test_error')} ({time.perf_counter() - started:.1f} s)", flush=True)
                if len(trials) == 1:
                    waves = math.ceil(total / cfg.trial_procs)
                    estimate = launched_at + waves * (time.perf_counter() - started)
                    rec.figures["estimate_s"] = round(estimate, 1)
                    if estimate > rec.budget_s:
                        stop = ("skipped", f"{total} trials, {cfg.trial_procs} at a time, would take about "
                                f"{estimate:.0f} s (first trial {time.perf_counter() - started:.0f} s) "
                                f"> the {rec.budget_s:.0f} s budget")
                rec.save()
            if not stop and rec.left() < 0:
                stop = ("timeout", f"the {rec.budget_s:.0f} s budget ran out")
    finally:
        for proc in running:
            proc.kill()
            proc.wait()
    rec.figures["table"] = anchor_table(space, trials, params)
    failed = [t for t in trials if t["status"] != "ok"]
    if stop:
        rec.finish(stop[0], f"{stop[1]}; {len(trials) - len(failed)} of {total} trials finished")
    elif failed:
        rec.finish("failed", f"{len(failed)} of {total} trials failed: {failed[0].get('reason')}")


# --- d. ResNet-50 at 224x224 ----------------------------------------------------------------
def r50_variants(cfg: Config) -> list[tuple[str, str, Callable[[], Any]]]:
    """(name, label, builder) of the paper space's anchors (at ``r50_size``), a torchvision-style
    gespace baseline (timm's layout: stride on the 3x3) and timm's resnet50."""
    from gespace import build_model
    from gespace.grammar import anchor_label, load_space

    space = load_space(str(R50_SPACE))

    def point(name: str, **extra: Any) -> dict[str, Any]:
        return {**space.anchor(name), "backbone.image_size": cfg.r50_size, **extra}

    variants = [(name, anchor_label(name), lambda name=name: build_model(point(name), seed=0))
                for name in ("baseline", "ge-theta-minus", "ge-theta", "ge-theta-plus")]
    variants.append(("baseline-torchvision", "Baseline (stride on 3x3)",
                     lambda: build_model(point("baseline", **{"backbone.style": "torchvision"}), seed=0)))

    def timm_resnet50() -> Any:
        import timm

        return timm.create_model("resnet50", pretrained=False, num_classes=1000)

    variants.append(("timm-resnet50", "timm resnet50", timm_resnet50))
    return variants


def section_resnet50(cfg: Config, rec: Recorder, tmp: Path) -> None:
    import torch

    from gespace.train.device import setup_device

    batch, size = cfg.r50_batch, cfg.r50_size
    rec.figures.update(batch=batch, image_size=size, precision="bf16", rows=[])
    rows = rec.figures["rows"]
    steps: dict[str, Callable[[], None]] = {}
    gen = torch.Generator().manual_seed(0)
    x_cpu = torch.randn(batch, 3, size, size, generator=gen)
    y_cpu = torch.randint(1000, (batch,), generator=gen)
    for name, label, build in r50_variants(cfg):
        row = {"model": name, "label": label, "status": "ok"}
        rows.append(row)
        try:
            model = build()
            setup = setup_device(cfg.device, threads=cfg.threads).prepare(model)
            x = x_cpu.to(setup.device)
            if setup.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            model.train()
            row["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 3)
            step, _ = step_fn(model, x, y_cpu.to(setup.device), "eager", cfg.compile_backend)
            for _ in range(cfg.r50_warmup):
                step()
            sync(cfg.device)
            steps[name] = step
        except ImportError as err:
            row.update(status="skipped", reason=f"not importable ({one_line(err)})")
        except Exception as err:
            row.update(status="failed", reason=one_line(err))
            traceback.print_exc()
        rec.save()
    # Round-robin windows: drift in clocks or load hits every variant alike.
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(cfg.r50_rounds):
        for name, step in steps.items():
            if rec.left() < 1:
                break
            start = time.perf_counter()
            for _ in range(cfg.r50_steps):
                step()
            sync(cfg.device)
            times[name].append((time.perf_counter() - start) / cfg.r50_steps)
    for row in rows:
        if times.get(row["model"]):
            seconds = statistics.median(times[row["model"]])
            row.update(images_per_s=batch / seconds, ms_per_step=seconds * 1e3, windows=len(times[row["model"]]))
        elif row["status"] == "ok":
            row.update(status="skipped", reason="the budget ran out before it was timed")
    base = next((r for r in rows if r["model"] == "baseline" and "ms_per_step" in r), None)
    for row in rows:
        if base and "ms_per_step" in row:
            row["time_vs_baseline"] = row["ms_per_step"] / base["ms_per_step"]
    rec.save()


SECTION_FUNCS = {"tests": section_tests, "throughput": section_throughput,
                 "anchors": section_anchors, "resnet50": section_resnet50}


# --- worker processes (packing, anchor trials) ----------------------------------------------
def pack_worker(job: dict[str, Any]) -> dict[str, Any]:
    from gespace.train import train

    marks: dict[str, float] = {}

    def barrier(metrics: dict[str, Any]) -> None:
        if metrics["epoch"] == 1:  # warmed up: wait for the siblings, then time epoch 2
            Path(job["ready"]).touch()
            deadline = time.time() + job["wait_s"]
            while not os.path.exists(job["go"]) and time.time() < deadline:
                time.sleep(0.002)
            marks["start"] = time.time()
        else:
            marks["end"] = time.time()

    result = train(demo_point(job["anchor"]), data=synthetic_images(job["images"], job["batch"], job["rank"]),
                   device=job["device"], epochs=2, threads=job["threads"], progress=False, callback=barrier,
                   overrides={"batch_size": job["batch"], "val_fraction": 0.0})
    if not result.ok:
        return {"status": result.status, "reason": result.reason}
    return {"status": "ok", "images": result.history[-1]["images"],
            "images_per_s": result.history[-1]["images_per_s"], **marks}


def anchor_worker(job: dict[str, Any]) -> dict[str, Any]:
    from gespace.train import train

    point = demo_point(job["anchor"])
    data = fashion_data(job["data_root"], point, job["limit_train"], job["limit_test"])
    result = train(point, data=data, seed=job["seed"], epochs=job["epochs"], device=job["device"],
                   threads=job["threads"], progress=False)
    return {"status": result.status, "reason": result.reason, "test_error": result.test_error,
            "final_val_error": result.final_val_error, "best_val_error": result.best_val_error,
            "epochs_completed": result.epochs_completed, "wall_s": result.wall_time,
            "images_per_s": (statistics.fmean(h["images_per_s"] for h in result.history)
                             if result.history else None)}


def run_worker(path: str) -> int:
    job = json.loads(Path(path).read_text())
    try:
        result = {"pack": pack_worker, "anchor": anchor_worker}[job["kind"]](job)
    except Exception as err:
        traceback.print_exc()
        result = {"status": "failed", "reason": one_line(err)}
    write_json(Path(job["result"]), result)
    return 0


def run_section(name: str, config_path: str, out_path: str) -> int:
    """Inside a section's own process: run it, and save status and figures whatever happens."""
    cfg = load_config(config_path)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    rec = Recorder(Path(out_path), cfg.budgets[name])
    tmp = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=Path(out_path).parent))
    try:
        SECTION_FUNCS[name](cfg, rec, tmp)
        if rec.data["status"] == "running":
            rec.finish("ok")
    except Exception as err:
        traceback.print_exc()
        rec.data["traceback"] = traceback.format_exc()
        rec.finish("failed", one_line(err))
    return 0


# --- the driver -----------------------------------------------------------------------------
def environment() -> dict[str, Any]:
    import importlib.metadata

    import torch

    import gespace  # noqa: F401  (what the sections import: none of it may pull in HEAVY)
    import gespace.analysis.prune  # noqa: F401
    import gespace.analysis.selectivity  # noqa: F401
    import gespace.builder  # noqa: F401
    import gespace.data  # noqa: F401
    import gespace.train  # noqa: F401

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda_runtime": torch.version.cuda, "host_cpus": os.cpu_count(),
                           "heavy_imports": [m for m in HEAVY if m in sys.modules]}
    try:
        env["timm"] = importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        env["timm"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(device=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   multiprocessors=props.multi_processor_count, capability=f"{props.major}.{props.minor}",
                   cudnn=torch.backends.cudnn.version())
    else:
        from gespace.train.device import cpu_name

        env["device"] = "cpu: " + cpu_name()
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        env["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, IndexError):
        env["driver"] = None
    return env


def run_section_process(name: str, cfg: Config, config_path: Path, tmp: Path, log: Any) -> dict[str, Any]:
    out = tmp / f"section-{name}.json"
    budget = cfg.budgets[name]
    print(f"== {name} (budget {budget:.0f} s)", flush=True)
    log.write(f"\n===== section {name} =====\n")
    log.flush()
    start = time.perf_counter()
    # A session of its own, so a hung section is killed with its workers and pytest.
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--section", name, "--config", str(config_path),
                             "--section-out", str(out)], cwd=ROOT, env=child_env(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=budget + GRACE_S)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = True
    result = json.loads(out.read_text()) if out.exists() else {"status": "running", "reason": "", "figures": {}}
    if killed:
        result.update(status="timeout", reason=f"killed after {budget + GRACE_S:.0f} s")
    elif result["status"] == "running":
        result.update(status="failed", reason=f"the section's process exited with {proc.returncode}")
    result.update(wall_s=round(time.perf_counter() - start, 1), budget_s=budget)
    print(f"   {result['status']} in {result['wall_s']} s {result['reason']}", flush=True)
    return result


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run's figures (None where a figure is missing)."""
    sections = report["sections"]
    rows = [r for r in sections.get("throughput", {}).get("figures", {}).get("rows", []) if r.get("status") == "ok"]
    packs = [r for r in sections.get("throughput", {}).get("figures", {}).get("packing", []) if r.get("status") == "ok"]
    r50 = {r["model"]: r for r in sections.get("resnet50", {}).get("figures", {}).get("rows", []) if "ms_per_step" in r}
    anchors = sections.get("anchors", {})
    trainer = max((r["images_per_s"] for r in rows if r["path"] == "trainer"), default=None)
    packed = max((r["aggregate_images_per_s"] for r in packs), default=None)
    minus = (r50["ge-theta-minus"]["ms_per_step"] / r50["baseline"]["ms_per_step"]
             if {"ge-theta-minus", "baseline"} <= set(r50) else None)
    vs_timm = (r50["baseline"]["images_per_s"] / r50["timm-resnet50"]["images_per_s"]
               if {"baseline", "timm-resnet50"} <= set(r50) else None)
    trials = anchors.get("figures", {}).get("trials", [])
    ok_trials = sum(t["status"] == "ok" for t in trials)
    expected = len(anchors.get("figures", {}).get("seeds", [])) * 5
    anchors_wall = anchors.get("wall_s") if anchors and ok_trials == expected else None
    return [
        {"target": "ResNet-20 trainer images/s, one trial", "want": ">= 50000", "got": trainer, "digits": 0,
         "met": None if trainer is None else trainer >= 50000},
        {"target": "ResNet-20 aggregate images/s, trials packed", "want": ">= 150000", "got": packed, "digits": 0,
         "met": None if packed is None else packed >= 150000},
        {"target": "ResNet-50 GE-θ⁻ step time / baseline's", "want": "<= 1.05", "got": minus, "digits": 3,
         "met": None if minus is None else minus <= 1.05},
        {"target": "ResNet-50 baseline images/s / timm resnet50's", "want": ">= 0.9", "got": vs_timm, "digits": 3,
         "met": None if vs_timm is None else vs_timm >= 0.9},
        {"target": f"all {expected} anchor trials, seconds", "want": "<= 480", "got": anchors_wall, "digits": 1,
         "met": None if anchors_wall is None else anchors_wall <= 480},
    ]


# --- the Markdown summary -------------------------------------------------------------------
def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""])


def status_note(row: dict[str, Any]) -> str:
    return row.get("reason") or ("" if row.get("status") == "ok" else row.get("status", ""))


def markdown(report: dict[str, Any]) -> str:
    env, sections = report["env"], report["sections"]
    lines = ["# GPU check", ""]
    if report["dry_run"]:
        lines += ["**CPU dry run: tiny sizes on a CPU, to check the script and show the layout. "
                  "These are not GPU figures.**", ""]
    lines += table(["device", "torch", "CUDA runtime", "driver", "timm", "started (UTC)", "wall s"],
                   [[env.get("device"), env.get("torch"), fmt(env.get("cuda_runtime")), fmt(env.get("driver")),
                     fmt(env.get("timm")), report["started"], fmt(report.get("wall_s"), 1)]])
    lines += [f"Heavy imports (Ray, Optuna, fvcore) loaded by the checked modules: "
              f"{', '.join(env['heavy_imports']) or 'none'}.", ""]
    lines += ["## Sections", ""]
    lines += table(["section", "status", "wall s", "budget s", "note"],
                   [[name, s["status"], fmt(s.get("wall_s"), 1), fmt(s.get("budget_s")), s.get("reason", "")]
                    for name, s in sections.items()])
    if report.get("targets"):
        lines += ["## Targets", ""]
        lines += table(["target", "want", "got", "met"],
                       [[t["target"], t["want"], fmt(t["got"], t["digits"]),
                         "n/a (CPU dry run)" if report["dry_run"] else fmt(t["met"])] for t in report["targets"]])
    if "tests" in sections:
        fig = sections["tests"]["figures"]
        lines += ["## a. CUDA tests", "", f"`{fig.get('command', 'pytest -m cuda tests/test_cuda.py')}`: "
                  f"{fig.get('passed', 0)} passed, {fig.get('failed', 0)} failed, {fig.get('error', 0)} errors, "
                  f"{fig.get('skipped', 0)} skipped.", ""]
        lines += table(["test", "outcome", "message"],
                       [[c["name"], c["outcome"], c["message"]] for c in fig.get("cases", [])])
    if "throughput" in sections:
        fig = sections["throughput"]["figures"]
        lines += ["## b. ResNet-20 throughput", "",
                  f"Anchor {fig.get('anchor')} of spaces/fashion-demo.yaml, {fig.get('precision')} autocast, "
                  f"channels_last, {fig.get('input')} input. `step`: a bare SGD step on a fixed batch "
                  f"(median window); `trainer`: `gespace.train` (device-side augmentation, LR schedule), "
                  f"its second epoch.", ""]
        lines += table(["path", "mode", "batch", "images/s", "ms/step", "set-up or 1st epoch s", "note"],
                       [[r["path"], r["mode"] + (f" ({r['backend']})" if r.get("backend") else ""), r["batch"],
                         fmt(r.get("images_per_s")), fmt(r.get("ms_per_step"), 2),
                         fmt(r.get("setup_s", r.get("first_epoch_s")), 1), status_note(r)]
                        for r in fig.get("rows", [])])
        lines += [f"Packed trials: N trainer processes at batch {fig.get('pack_batch')}, one warm-up epoch, "
                  f"then one timed epoch of {fig.get('pack_images')} images each, started together.", ""]
        lines += table(["processes", "aggregate images/s", "per process images/s", "note"],
                       [[r["processes"], fmt(r.get("aggregate_images_per_s")),
                         ", ".join(fmt(v) for v in r.get("per_process_images_per_s", [])), status_note(r)]
                        for r in fig.get("packing", [])])
    if "anchors" in sections:
        fig = sections["anchors"]["figures"]
        lines += ["## c. Demo anchors, full recipe", "",
                  f"{fig.get('space')}: epochs {fig.get('epochs')}, {fig.get('train_images')} Fashion-MNIST "
                  f"training images ({fig.get('val_fraction')} of them held out for validation), "
                  f"{fig.get('test_images')} test images; seeds {fig.get('seeds')}, {fig.get('procs')} "
                  f"trials at a time. Errors in %, mean ± half-width of the 95% t interval over seeds.", ""]
        lines += table(["model", "params M", "seeds", "test error %", "± 95%", "val error %", "± 95%", "s / trial"],
                       [[r["label"], fmt(r["params_m"], 3), r["n"], fmt(r.get("test_error_pct"), 2),
                         fmt(r.get("test_ci95_pct"), 2), fmt(r.get("val_error_pct"), 2),
                         fmt(r.get("val_ci95_pct"), 2), fmt(r.get("wall_s_mean"), 1)]
                        for r in fig.get("table", [])])
    if "resnet50" in sections:
        fig = sections["resnet50"]["figures"]
        lines += ["## d. ResNet-50 train step", "",
                  f"Batch {fig.get('batch')}, {fig.get('image_size')}x{fig.get('image_size')} synthetic input, "
                  f"{fig.get('precision')} autocast, channels_last, SGD; median of round-robin windows. "
                  f"gespace's ResNet-50 is the paper's (stride on the first 1x1); timm's has it on the 3x3, "
                  f"as has the 'stride on 3x3' row.", ""]
        lines += table(["model", "params M", "images/s", "ms/step", "time vs baseline", "note"],
                       [[r["label"], fmt(r.get("params_m"), 2), fmt(r.get("images_per_s")),
                         fmt(r.get("ms_per_step"), 2), fmt(r.get("time_vs_baseline"), 3), status_note(r)]
                        for r in fig.get("rows", [])])
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every section on the CPU at tiny sizes")
    parser.add_argument("--out", help="output folder (default: runs/gpu-check; a temporary one for --dry-run)")
    parser.add_argument("--data-root", help="Fashion-MNIST folder (default: gespace's search)")
    parser.add_argument("--sections", help=f"comma list of {', '.join(SECTIONS)} or letters a-d (default all)")
    parser.add_argument("--budget", action="append", default=[], metavar="NAME=S", help="a section's budget")
    parser.add_argument("--batches", help="comma list of ResNet-20 batch sizes (throughput)")
    parser.add_argument("--packs", help="comma list of packed process counts (throughput)")
    parser.add_argument("--trial-procs", type=int, help="anchor trials at a time")
    parser.add_argument("--r50-size", type=int, help="ResNet-50 input size (default 224; dry run 64)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--section-out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace) -> Config:
    cfg = Config.dry_run_config() if args.dry_run else Config()
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run on a GPU, or pass --dry-run for the CPU dry run")
    cfg.data_root = str(Path(args.data_root).resolve()) if args.data_root else None
    if args.sections:
        names = [LETTERS.get(s.strip(), s.strip()) for s in args.sections.split(",")]
        unknown = [n for n in names if n not in SECTIONS]
        if unknown:
            raise SystemExit(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)} (or a-d)")
        cfg.sections = tuple(n for n in SECTIONS if n in names)
    for item in args.budget:
        name, _, seconds = item.partition("=")
        if name not in SECTIONS:
            raise SystemExit(f"--budget {item}: unknown section {name!r}")
        cfg.budgets[name] = float(seconds)
    if args.batches:
        cfg.batches = tuple(int(b) for b in args.batches.split(","))
    if args.packs:
        cfg.packs = tuple(int(p) for p in args.packs.split(","))
    if args.trial_procs:
        cfg.trial_procs = args.trial_procs
    if args.r50_size:
        cfg.r50_size = args.r50_size
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker)
    if args.section:
        return run_section(args.section, args.config, args.section_out)
    cfg = make_config(args)
    out = Path(args.out or (tempfile.mkdtemp(prefix="gpu_check_dry_") if cfg.dry_run else ROOT / "runs" / "gpu-check"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report: dict[str, Any] = {"schema": 1, "dry_run": cfg.dry_run,
                              "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                              "command": " ".join([Path(sys.executable).name, *sys.argv]),
                              "config": dataclasses.asdict(cfg), "env": environment(), "sections": {}}

    def save() -> None:
        report["wall_s"] = round(time.perf_counter() - t0, 1)
        report["targets"] = targets(report)
        write_json(out / "gpu_check.json", report)
        (out / "gpu_check.md").write_text(markdown(report) + "\n")

    save()
    # Scratch (configs, jobs, barriers, per-section JSON) stays out of OUT: few files come back.
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch, open(out / "gpu_check.log", "a") as log:
        tmp = Path(scratch)
        config_path = tmp / "config.json"
        write_json(config_path, dataclasses.asdict(cfg))
        for name in cfg.sections:
            report["sections"][name] = run_section_process(name, cfg, config_path, tmp, log)
            save()
    print(markdown(report))
    print(f"\nwrote {out / 'gpu_check.json'}, {out / 'gpu_check.md'} and {out / 'gpu_check.log'} "
          f"in {report['wall_s']} s")
    return 0 if all(s["status"] == "ok" for s in report["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
