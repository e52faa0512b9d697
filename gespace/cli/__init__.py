"""The `gespace` command. Each sub-command lives in its own module with ``add_parser``.

Packages that build on gespace (the `search` campaign layer) add commands
through the ``gespace.commands`` entry-point group, so gespace never imports them.
"""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from rich.console import Console

from gespace.cli import analyze as analyze_cli
from gespace.cli import cost as cost_cli
from gespace.cli import space as space_cli
from gespace.cli import train as train_cli
from gespace.errors import BuildError, MachineFailure, UserError, machine_failure
from gespace.grammar import PointError, SpecError

COMMANDS = [space_cli, cost_cli, train_cli, analyze_cli]
__all__ = ["COMMANDS", "UserError", "build_parser", "main"]  # UserError: plugins import it from here


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gespace", description="Search the Gather-Excite design space.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subparsers)
    for plugin in sorted(entry_points(group="gespace.commands"), key=lambda e: e.name):
        plugin.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print ``gespace: ...`` lines and exit 2, failures of the machine
    one line and exit 1, never a traceback."""
    args = build_parser().parse_args(argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return args.handler(args) or 0
    except SpecError as error:
        for problem in error.problems:
            err.print(str(problem), markup=False)
        return 2
    except (UserError, PointError, BuildError) as error:
        err.print(f"gespace: {error}", markup=False)
        return 2
    except MachineFailure as error:
        err.print(f"gespace: {error}", markup=False)
        return 1
    except OSError as error:
        cause = machine_failure(error)
        if cause is None:
            raise
        err.print(f"gespace: stopped: {cause}; free the space and run again (--resume continues)", markup=False)
        return 1
    except KeyboardInterrupt:
        err.print("gespace: interrupted", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
