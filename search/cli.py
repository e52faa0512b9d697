"""`gespace search` and `gespace report`, registered through the `gespace.commands` entry points."""
from __future__ import annotations

import argparse

from gespace.cli import UserError
from gespace.errors import MachineFailure
from search import SCHEDULERS, SEARCHERS
from gespace.objectives import DEFAULT_OBJECTIVES, OBJECTIVES
from search.settings import default
from search.store import StoreError


def _objectives(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in OBJECTIVES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"objectives are a comma list of {', '.join(OBJECTIVES)}")
    return names


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of core-hours, e.g. 2.5")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _margin(text: str) -> float:
    value = float(text)
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError("must be percentage points in (0, 100)")
    return value


def _grace(text: str) -> int | str:
    return text if text == "auto" else _positive(text)


# Multi-objective campaigns up to this many points wait for whole rungs (mosha) by default.
SYNCHRONOUS_POINTS = 32


def default_scheduler(objectives: list[str], points: int) -> str:
    if len(objectives) == 1:
        return "asha"
    return "mosha" if points <= SYNCHRONOUS_POINTS else "moasha"


def add_search_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="run a search campaign over a space on Ray Tune")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--num-samples", type=int, default=16,
                        help="distinct points to search, anchors included (default 16)")
    parser.add_argument("--seeds", type=_positive, default=default("seeds"),
                        help="seeds each sampled point trains under (default %(default)s)")
    parser.add_argument("--anchor-seeds", type=_positive, default=default("anchor_seeds"),
                        help="seeds each anchor trains under (default %(default)s: every campaign measures "
                             "its noise)")
    parser.add_argument("--confirm", type=_count, default=default("confirm"), metavar="N",
                        help="after the search, train the N points most likely on the front under fresh seeds at "
                             "the full budget, beside the anchors' full-budget runs (anchors with fewer runs than "
                             "--confirm-seeds train again); the report's 'Confirmed' table")
    parser.add_argument("--confirm-seeds", type=_positive, default=default("confirm_seeds"),
                        help="seeds of each confirmed point (default %(default)s)")
    parser.add_argument("--race", action="store_true",
                        help="race the confirmation instead: in rounds, every point still open (the anchors and "
                             "the --confirm points) trains under the next seed until it is settled on or off the "
                             "front (indifference margin: --race-delta, else the spec's report.equivalence_pp)")
    parser.add_argument("--race-rounds", type=_positive, default=default("race_rounds"), metavar="R",
                        help="declared rounds of the race, the most race seeds a point gets (default 30); it looks "
                             "after round 3 and whenever the seeds have grown by about 15%%, and its 5%% error "
                             "rate is spent over those looks, later looks more; fixed once it has looked")
    parser.add_argument("--race-budget", type=_positive, default=default("race_budget"), metavar="RUNS",
                        help="most race runs, all rounds together (default: no limit but --race-rounds)")
    parser.add_argument("--race-hours", type=_hours, default=default("race_hours"), metavar="H",
                        help="most core-hours of race runs (cores per trial x wall time), all rounds together; "
                             "a round that would pass it, at the race points' mean run time, is not started")
    parser.add_argument("--race-delta", type=_margin, default=default("race_delta"), metavar="PP",
                        help="the race's indifference margin in percentage points (default: the spec's "
                             "report.equivalence_pp)")
    parser.add_argument("--searcher", choices=SEARCHERS, default="random",
                        help="how points are chosen; ablation: the anchor --around and every one-knob change of it, "
                             "each under the same --seeds, all to the full budget")
    parser.add_argument("--around", metavar="ANCHOR", help="--searcher ablation: the anchor to vary")
    parser.add_argument("--prefilter", metavar="PROXY:K",
                        help="train only the K sampled points a zero-cost proxy (synflow, grad_norm, jacob_cov) "
                             "scores best, if the --calibrate cohort trusts it; else every sampled point")
    parser.add_argument("--knobs", nargs="+", metavar="KNOB",
                        help="--searcher ablation: the knobs to vary (default: every GE knob)")
    parser.add_argument("--scheduler", choices=SCHEDULERS,
                        help="early stopping: asha (validation error alone), mosha / moasha (multi-objective "
                             "successive halving, synchronous / asynchronous), none; default: mosha for "
                             f"multi-objective campaigns of at most {SYNCHRONOUS_POINTS} points, moasha above, "
                             "asha for one objective")
    parser.add_argument("--grace", type=_grace, default=default("grace"),
                        help="first rung in epochs, or 'auto': the first epoch the calibration trusts")
    parser.add_argument("--min-results", type=_positive, default=default("min_results"),
                        help="moasha: results a rung holds before it promotes anything (default %(default)s)")
    parser.add_argument("--calibrate", type=_count, default=default("calibrate"), metavar="N",
                        help="N points (the anchors, then Sobol points) trained to the full budget under "
                             "2 seeds: how well early rankings predict final ones")
    parser.add_argument("--objectives", type=_objectives, default=list(DEFAULT_OBJECTIVES),
                        help=f"comma list of {', '.join(OBJECTIVES)} (default val_error,gmacs); "
                             "latency_ms is measured on the campaign's device")
    parser.add_argument("--epochs", type=int, help="train every point for this many epochs (train.epochs)")
    parser.add_argument("--subset", type=float,
                        help="train every point on this fraction of the training split (train.subset)")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions share a GPU")
    parser.add_argument("--max-concurrent", type=int, help="trials running at once (default: as resources allow)")
    parser.add_argument("--address", help="join a Ray cluster (ADDR or 'auto'); default: Ray on loopback here")
    parser.add_argument("--storage", default="runs",
                        help="where campaign directories go, local or shared (default: runs)")
    parser.add_argument("--name", help="campaign name (default: the space's name)")
    parser.add_argument("--resume", action="store_true", help="continue the campaign in STORAGE/NAME (start it if there is none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="train every point on this dataset (train.dataset)")
    parser.add_argument("--data-root", help="dataset directory")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-progress", action="store_true", help="no live progress table")
    add_judging_arguments(parser)
    parser.set_defaults(handler=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from gespace.grammar import load_space
    from search.campaign import CampaignError, CampaignHalted, run_campaign
    from search.settings import CampaignSettings
    from search.report import write_report

    space = load_space(args.spec)
    anchors = [name for name, _ in space.anchors()]
    if args.control and args.control not in anchors:  # before training, not when the report is due
        raise UserError(f"--control {args.control!r} is not an anchor of {args.spec}; its anchors: "
                        + (", ".join(anchors) or "none"))
    settings = CampaignSettings(
        spec=args.spec, name=args.name or space.name, storage=args.storage,
        num_samples=args.num_samples, searcher=args.searcher,
        scheduler=args.scheduler or ("none" if args.searcher == "ablation"
                                     else default_scheduler(args.objectives, args.num_samples)),
        grace=args.grace, min_results=args.min_results, calibrate=args.calibrate,
        objectives=args.objectives, epochs=args.epochs, subset=args.subset,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent, seed=args.seed, data=args.data, data_root=args.data_root,
        device=args.device, seeds=args.seeds, anchor_seeds=args.anchor_seeds, confirm=args.confirm,
        confirm_seeds=args.confirm_seeds, race=args.race, race_rounds=args.race_rounds,
        race_budget=args.race_budget, race_hours=args.race_hours, race_delta=args.race_delta, around=args.around, knobs=args.knobs, prefilter=args.prefilter)
    try:
        store = run_campaign(settings, resume=args.resume, address=args.address,
                             progress=not args.no_progress)
    except CampaignError as error:
        raise UserError(str(error)) from None
    except CampaignHalted as error:
        raise MachineFailure(str(error)) from None
    write_report([store.directory], objectives=settings.objectives, adjust=args.adjust, control=args.control)
    return 0


def add_judging_arguments(parser: argparse.ArgumentParser) -> None:
    """How the report judges its families of comparisons (`search.verdicts`)."""
    from search.verdicts import ADJUSTMENTS

    parser.add_argument("--adjust", choices=tuple(ADJUSTMENTS), default="holm",
                        help="multiplicity adjustment of each family of comparisons: holm (family-wise error), "
                             "bh (false discovery rate) or none (default: holm)")
    parser.add_argument("--control", metavar="ANCHOR",
                        help="the anchor every point is compared with by Dunnett's test (default: baseline)")


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="Pareto tables, CSV and plot of campaigns")
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument("--compare", nargs="+", default=[], metavar="DIR", help="more campaigns to compare")
    parser.add_argument("--objectives", type=_objectives, default=list(DEFAULT_OBJECTIVES))
    parser.add_argument("--replicas", nargs="+", default=[], metavar="DIR",
                        help="the same campaign run with other seeds: also write replicas.md/.csv, "
                             "each point's errors as mean ± std over the seeds")
    parser.add_argument("--out", help="where to write the report files (default: DIR)")
    add_judging_arguments(parser)
    parser.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from search.report import write_replica_report, write_report

    try:
        write_report([args.directory, *args.compare], objectives=args.objectives, out_dir=args.out,
                     adjust=args.adjust, control=args.control)
        if args.replicas:
            write_replica_report([args.directory, *args.replicas], objectives=args.objectives, out_dir=args.out)
    except (StoreError, ValueError) as error:
        raise UserError(str(error)) from None
    return 0
