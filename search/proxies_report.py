"""`gespace analyze proxies`: how well zero-cost proxies rank a campaign's designs (search.proxies)."""
from __future__ import annotations

import argparse
from pathlib import Path

from gespace.cli import UserError
from gespace.data import DataError
from gespace.proxies import PROXIES
from search.calibration import TRUSTED, Correlation
from search.proxies import SCORES, ProxyRating, final_runs, rate_proxies, score_points, write_scores
from search.render import csv_text, print_section, report_console, section_markdown
from search.sections import Section
from search.store import open_campaign

COLUMNS = ("proxy", "spearman", "kendall", "trusted")


def add_proxies_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("proxies", help="zero-cost proxies at initialisation rated like an epoch: rank "
                                                 "correlation with the full budget across seeds, beside the costs")
    parser.add_argument("directory", metavar="CAMPAIGN")
    parser.add_argument("--proxies", default=",".join(PROXIES),
                        help=f"comma list of {', '.join(PROXIES)} (default: all)")
    parser.add_argument("--batch", type=int, default=64, help="images the proxies see (default 64)")
    parser.add_argument("--data-root", help="dataset directory (default: the usual places)")
    parser.add_argument("--out", help="where proxies.md, proxies.csv and proxy-scores.json go")
    parser.set_defaults(handler=cmd_proxies)


def cmd_proxies(args: argparse.Namespace) -> int:
    names = [p for p in args.proxies.split(",") if p]
    unknown = [p for p in names if p not in PROXIES]
    if unknown:
        raise UserError(f"--proxies {unknown[0]}: unknown; known: {', '.join(PROXIES)}")
    _, _, space, records = open_campaign(args.directory)
    runs = final_runs(records)
    units = {(pid, seed): space.canonicalise(run.point) for pid, seeds in runs.items() for seed, run in seeds.items()}
    try:
        scores = score_points(units, names, args.data_root, args.batch)
    except (DataError, ValueError) as error:
        raise UserError(f"{args.directory}: {error}") from None
    rating = rate_proxies(records, scores)
    if rating is None:
        raise UserError(f"{args.directory}: fewer than 4 points with two full-budget seeds: nothing to rate against")
    section = proxies_section(rating)
    print_section(section, report_console())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "proxies.csv").write_text(csv_text(section.rows, section.columns))
        (out / "proxies.md").write_text(section_markdown(section))
        write_scores(out / SCORES, scores)
    return 0


def proxies_section(rating: ProxyRating) -> Section:
    def text(value: float, interval: tuple[float, float]) -> str:
        return f"{value:+.2f} [{interval[0]:+.2f}, {interval[1]:+.2f}]"

    def row(name: str, rated: Correlation, trusted: str) -> dict[str, str]:
        return {"proxy": name, "spearman": text(rated.spearman, rated.spearman_interval),
                "kendall": text(rated.kendall, rated.kendall_interval), "trusted": trusted}

    rows = [row(name, rated, "yes" if rating.trusted(name) else "no") for name, rated in rating.proxies.items()]
    rows.append(row("seed vs seed (ceiling)", rating.ceiling, ""))
    notes = [f"{rating.points} points with two or more full-budget seeds. Each proxy's score under one seed (the "
             "network at initialisation; higher predicts lower error) against the validation error at the full "
             "budget under another seed, the rank correlation averaged over ordered pairs of seeds, with its 95% "
             "interval (search/calibration.py); params_m and gmacs are the baselines every proxy must beat. "
             f"Trusted: the Spearman interval lies above {TRUSTED}, the bar an epoch must clear for --grace auto "
             "(and a proxy for --prefilter)."] + [f"Warning: {w}." for w in rating.warnings]
    return Section("Zero-cost proxies: rank correlation with the full budget across seeds", COLUMNS, rows, notes,
                   "proxies.csv")
