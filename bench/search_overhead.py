"""How much of a campaign's wall time goes into training, versus orchestration.

Runs a campaign of small trials (a ResNet-8 on synthetic data, each a few
tens of seconds) on Ray on loopback, then divides the trainers' own wall time
(summed over trials) by the campaign's wall time times its concurrency.
Target: at least 0.85. Also prints the campaign's fixed start-up (until the
first trial runs) and the steady-state wait between trials, and a timeline.
Prints figures; asserts nothing about time.

    python bench/search_overhead.py [--trials 8] [--concurrent 2] [--epochs 12]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

SPEC = """\
name: overhead
backbone: {arch: cifar_resnet, depth: 8, width: 8, in_channels: 1, image_size: 28}
ge:
  placement: {stages: {choice: [[], all], default: all}}
  gather: {op: {choice: [pool, dwconv]}, extent: {choice: [2, 4, global], default: global}}
  excite: {mlp: {choice: [none, se]}, reduction: 4}
train: {dataset: synthetic, epochs: 3, batch_size: 64, val_fraction: 0.2}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=12, help="per trial (12: about 25 s on 1 core)")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from search.campaign import connect_ray, run_campaign
    from search.settings import CampaignSettings

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "overhead.yaml"
        spec.write_text(SPEC)
        start = time.perf_counter()
        connect_ray(None, cpus=args.concurrent)
        ray_ready, campaign_start = time.perf_counter(), time.time()
        settings = CampaignSettings(spec=str(spec), name="overhead", storage=tmp, num_samples=args.trials,
                                    scheduler="none", max_concurrent=args.concurrent, epochs=args.epochs)
        store = run_campaign(settings, progress=False)
        end, campaign_end = time.perf_counter(), time.time()
        records = store.records()
    trained = [r for r in records if r.train_time]
    train_time = sum(r.train_time for r in trained)
    campaign_time, total_time = end - ray_ready, end - start
    table = Table(title=f"search overhead: {len(trained)} trials, {args.concurrent} at a time")
    for column in ("measure", "value"):
        table.add_column(column)
    count = max(1, len(trained))
    table.add_row("mean trial training time", f"{train_time / count:.2f} s")
    table.add_row("mean set-up inside a trial (imports, build)",
                  f"{sum(r.setup_time or 0 for r in trained) / count:.2f} s")
    table.add_row("mean trial time as Tune saw it",
                  f"{sum(r.wall_time or 0 for r in trained) / count:.2f} s")
    table.add_row("campaign wall time (Ray started)", f"{campaign_time:.1f} s")
    table.add_row("Ray start-up", f"{ray_ready - start:.1f} s")
    table.add_row("training share of campaign slots", f"{train_time / (campaign_time * args.concurrent):.3f}")
    table.add_row("training share incl. Ray start-up", f"{train_time / (total_time * args.concurrent):.3f}")
    ordered = sorted(trained, key=lambda r: r.started_at)
    finishes = sorted(r.finished_at for r in trained)
    gaps = [r.started_at - max(f for f in finishes if f <= r.started_at)
            for r in ordered[args.concurrent:] if any(f <= r.started_at for f in finishes)]
    table.add_row("campaign start to first trial (Tune, first costing, actor start)",
                  f"{ordered[0].started_at - campaign_start:.1f} s" if ordered else "-")
    table.add_row("mean wait from a trial's end to the next start", f"{sum(gaps) / max(1, len(gaps)):.2f} s")
    Console().print(table)
    timeline = Table(title="trials (seconds from the campaign's start)")
    for column in ("trial", "started", "set-up", "training", "finished"):
        timeline.add_column(column, justify="right")
    for index, r in enumerate(ordered):
        timeline.add_row(str(index + 1), f"{r.started_at - campaign_start:.1f}", f"{r.setup_time:.2f}",
                         f"{r.train_time:.2f}", f"{r.finished_at - campaign_start:.1f}")
    timeline.add_row("end", "", "", "", f"{campaign_end - campaign_start:.1f}")
    Console().print(timeline)


if __name__ == "__main__":
    main()
