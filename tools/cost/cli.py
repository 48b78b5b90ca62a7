"""Command line: ``python -m tools.cost [LABEL=]ASSEMBLY_DIR ... [--markdown] [--json FILE]``.

Each argument is a CDK cloud assembly (``cdk synth -o DIR``); ``dev=cdk.out.cost-dev`` names its
profile, otherwise the profile is the stacks' ``Profile`` tag or the directory's name. Prints the
table (``--markdown``: docs/COST.md's version) and optionally writes everything as JSON.

Exit codes: 0 printed; 2 bad input (not a directory, not a cloud assembly, an unreadable template
or data file), reported as one sentence on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from . import report
from .assembly import Assembly, BadInput
from .model import NAIVE, OURS, Prices, Usage, estimate

EXIT_OK, EXIT_BAD_INPUT = 0, 2
HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices-us-east-1.json"
USAGE = HERE / "usage.json"
Loaded = TypeVar("Loaded")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one sentence and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"Error: {message}; see `{self.prog} --help`.\n")


def parser() -> argparse.ArgumentParser:
    main_parser = _Parser(
        prog="python -m tools.cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    main_parser.add_argument("assemblies", nargs="+", metavar="[LABEL=]DIR", help="cloud assembly directories")
    main_parser.add_argument("--markdown", action="store_true", help="print the Markdown tables the README embeds")
    main_parser.add_argument("--json", type=Path, metavar="FILE", help="also write every line and total as JSON")
    main_parser.add_argument("--prices", type=Path, default=PRICES, help="unit prices (default: %(default)s)")
    main_parser.add_argument("--usage", type=Path, default=USAGE, help="scenarios and budgets (default: %(default)s)")
    return main_parser


def _label(argument: str) -> tuple[str | None, Path]:
    label, separator, directory = argument.partition("=")
    return (label, Path(directory)) if separator else (None, Path(argument))


def profile(argument: str, prices: Prices, usage: Usage) -> report.Profile:
    """Read one assembly and price it under every scenario, ours and naive."""
    label, directory = _label(argument)
    assembly = Assembly(directory)
    label = label or assembly.tags.get("Profile") or directory.name.removeprefix("cdk.out.")
    estimates = {
        (scenario.name, design): estimate(assembly, prices, scenario, design)
        for scenario in usage.scenarios
        for design in (OURS, NAIVE)
    }
    return report.Profile(label, str(directory), [s.name for s in usage.scenarios], estimates)


def _data(path: Path, load: Callable[[Path], Loaded]) -> Loaded:
    try:
        return load(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadInput(f"the data file {path} is unusable ({error!r})") from None


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        prices = _data(arguments.prices, Prices.load)
        usage = _data(arguments.usage, Usage.load)
        profiles = [profile(argument, prices, usage) for argument in arguments.assemblies]
        render = report.markdown if arguments.markdown else report.text
        sys.stdout.write(render(profiles, prices, usage.budgets))
        if arguments.json:
            arguments.json.write_text(json.dumps(report.as_json(profiles, prices, usage.budgets), indent=2) + "\n")
    except BadInput as error:
        print(f"Error: {error}.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"Error: cannot write {arguments.json}: {error.strerror}.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK
