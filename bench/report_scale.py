"""How long `gespace report` takes as campaigns grow: synthetic campaigns of N records built from
`results/answer`'s (each point copied under new ids, its errors jittered by the campaign's seed
noise, costs kept), reported whole (every table, CSV, figure) into a temporary directory.
Asserts nothing; prints seconds per size and, last, one line:

    report scale: 100 records S1 s, 1,000 records S2 s, 5,000 records S3 s

    python bench/report_scale.py [--sizes 100 1000 5000] [--source results/answer]
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from gespace.train.device import cpu_description
from search.report import write_report
from search.store import CampaignStore

ROOT = Path(__file__).resolve().parent.parent


def synthetic_campaign(source: Path, size: int, directory: Path, seed: int = 0) -> None:
    """A campaign directory of ``size`` records: ``source``'s records, copied round by round under
    new point ids with their errors jittered (0.3 pp, the campaign's measured seed noise)."""
    rng = np.random.default_rng(seed)
    records = CampaignStore(source).records()
    directory.mkdir(parents=True)
    for name in ("campaign.json", "spec.yaml", "reference.json", "environment.json"):
        shutil.copy(source / name, directory / name)
    store = CampaignStore(directory)
    written, copy = 0, 0
    while written < size:
        for record in records:
            if written == size:
                break
            shift = float(rng.normal(0, 0.003))

            def jitter(value: float | None) -> float | None:
                return None if value is None else min(1.0, max(0.0, value + shift))

            epochs = [{**e, "val_error": jitter(e.get("val_error"))} for e in record.epochs]
            store.append(dataclasses.replace(
                record, id=record.id if copy == 0 else f"{record.id[:8]}{copy:04x}",
                name=record.name if copy == 0 else None, epochs=epochs, val_error=jitter(record.val_error),
                best_val_error=jitter(record.best_val_error), test_error=jitter(record.test_error)))
            written += 1
        copy += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--source", default=str(ROOT / "results" / "answer"))
    args = parser.parse_args()
    print(f"CPU: {cpu_description()} (a report runs on one core)")
    seconds = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            campaign = Path(scratch) / f"c{size}"
            synthetic_campaign(Path(args.source), size, campaign)
            start = time.perf_counter()
            write_report([campaign], out_dir=campaign, console=Console(file=io.StringIO(), width=200))
            seconds[size] = time.perf_counter() - start
            print(f"{size:,} records: {seconds[size]:.1f} s", flush=True)
    print("report scale: " + ", ".join(f"{size:,} records {s:.1f} s" for size, s in seconds.items()))


if __name__ == "__main__":
    main()
