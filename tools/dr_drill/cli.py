"""Command line of the recovery drill: ``python -m tools.dr_drill {restore,failover,status,az-loss}``.

Exit codes: 0 every store met the RTO and the RPO (status: every resource within the RPO; az-loss:
the steady-state hypothesis held); 1 a drill ran but a store failed its validation or an objective,
or something could not be cleaned up (az-loss: a clause of the hypothesis, named, did not hold);
2 a usage or setup error (nothing was changed); 130 interrupted (after the cleanup). Errors are one
sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TextIO

from . import az_loss, failover, render, restore, status
from .cleanup import Ledger, interrupt_signals
from .errors import FAILURES, SetupError, describe
from .report import (
    DEFAULT_REPORT_DIR,
    FAILED,
    INTERRUPTED,
    PASSED,
    AzLossReport,
    FailoverReport,
    RestoreReport,
    StatusReport,
    write,
)
from .stores import STORES
from .target import AWS, DEFAULT_OUTPUTS_DIR, LOCAL, Target, load_target
from .waiting import Progress

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = {PASSED: EXIT_OK, FAILED: EXIT_FAILED, INTERRUPTED: EXIT_INTERRUPTED}
PROG = "python -m tools.dr_drill"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one sentence and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_SETUP, f"Error: {message}; see `{self.prog} --help`.\n")


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2030-01-31T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0.0
    if minutes <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of minutes")
    return minutes


def parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--dry-run", action="store_true", help="print exactly what would be done; change nothing")
    common.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, help="default: %(default)s")
    common.add_argument(
        "--outputs-dir", type=Path, default=DEFAULT_OUTPUTS_DIR, help="where `make deploy` wrote the outputs"
    )
    common.add_argument("--suffix", help="refuse unless the recorded deployment has this environment suffix")
    common.add_argument(
        "--target", choices=(LOCAL, AWS), help="refuse unless the recorded deployment is on this target"
    )
    main_parser = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main_parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    restore_parser = commands.add_parser(
        "restore",
        parents=[common],
        help="restore into temporary copies, validate, time, clean up",
        description="Restore each store (or --store) from its newest completed recovery point, or to "
        "--point-in-time with the service's own PITR, into drill-<store>-<suffix>-<run id>; prove the copy "
        "holds the canary's newest heartbeat; report restore time against the RTO and data loss against the "
        "RPO; delete the copies (unless --keep; an interrupted drill always deletes them). --function "
        "recreates a Lambda function from its export in the data bucket instead.",
    )
    restore_parser.add_argument("--store", choices=sorted(STORES), help="only this store")
    restore_parser.add_argument("--point-in-time", type=_time, metavar="ISO", help="PITR to this time (UTC if no zone)")
    restore_parser.add_argument("--keep", action="store_true", help="keep the copies; print where they answer")
    restore_parser.add_argument("--function", metavar="NAME", help="recreate this Lambda function from its export")
    restore_parser.add_argument("--as", dest="new_name", metavar="NEW_NAME", help="with --function: under this name")
    commands.add_parser(
        "failover", parents=[common], help="fail Aurora over to the reader; measure the writer's unavailability"
    )
    commands.add_parser("status", parents=[common], help="newest recovery point per resource vs the RPO, last drill")
    az_parser = commands.add_parser(
        "az-loss",
        parents=[common],
        help="take an AZ away with AWS FIS; judge the steady-state hypothesis",
        description=az_loss.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    az_parser.add_argument("--az", metavar="AZ", help="the AZ to lose (default: the Aurora writer's)")
    az_parser.add_argument(
        "--minutes", type=_minutes, metavar="N", help="the disruption window judged (default: the template's duration)"
    )
    return main_parser


def _restore_options(args: argparse.Namespace) -> restore.RestoreOptions:
    if args.new_name and not args.function:
        raise SetupError("--as names the copy of a function; give --function NAME too.")
    if args.function and (args.store or args.point_in_time):
        raise SetupError("--function restores a Lambda function; it does not combine with --store or --point-in-time.")
    stores = (args.store,) if args.store else ()
    return restore.RestoreOptions(stores, args.point_in_time, args.function, args.new_name, args.keep)


def _run_restore(
    target: Target, args: argparse.Namespace, run_id: str, progress: Progress, sleep: Callable[[float], None]
) -> RestoreReport | None:
    options = _restore_options(args)
    ledger = Ledger()
    drills = restore.plan(target, ledger, options, run_id)
    if args.dry_run:
        _print(progress.out, restore.describe_plan(target, drills, options))
        return None
    return restore.execute(target, drills, ledger, options, run_id, progress=progress, sleep=sleep)


def _run_failover(
    target: Target, args: argparse.Namespace, run_id: str, progress: Progress, sleep: Callable[[float], None]
) -> FailoverReport | None:
    chosen = failover.plan(target)
    if args.dry_run:
        _print(progress.out, chosen.describe(target))
        return None
    return failover.execute(target, chosen, run_id, progress=progress, sleep=sleep)


def _run_az_loss(
    target: Target, args: argparse.Namespace, run_id: str, progress: Progress, sleep: Callable[[float], None]
) -> AzLossReport | None:
    chosen = az_loss.plan(target, args.az, args.minutes)
    if args.dry_run:
        _print(progress.out, chosen.describe(target))
        return None
    return az_loss.execute(target, chosen, run_id, progress=progress, sleep=sleep)


def _run_status(
    target: Target, args: argparse.Namespace, run_id: str, progress: Progress, sleep: Callable[[float], None]
) -> StatusReport | None:
    if args.dry_run:
        _print(progress.out, status.describe_plan(target, args.report_dir))
        return None
    return status.collect(target, args.report_dir, run_id)


Report = RestoreReport | FailoverReport | StatusReport | AzLossReport


def _publish(report: Report, report_dir: Path, out: TextIO, written_at: datetime) -> int:
    """Print the summary, write the JSON and HTML reports; the exit code follows the outcome.
    ``written_at`` is the target's time (the emulator's clock locally), the clock the report
    itself uses, so a report's file name and its content never disagree."""
    if isinstance(report, RestoreReport):
        lines, page = restore.summary(report), render.restore_page(report)
    elif isinstance(report, FailoverReport):
        lines, page = failover.summary(report), render.failover_page(report)
    elif isinstance(report, AzLossReport):
        lines, page = az_loss.summary(report), render.az_loss_page(report)
    else:
        lines, page = status.summary(report), render.status_page(report)
    _print(out, lines)
    path = write(report_dir, report.command, report.to_json(), page, written_at)
    _print(out, [f"{report.outcome.upper()}. Report: {path} (picture: {path.with_suffix('.html')})"])
    return EXIT_CODES[report.outcome]


def _print(out: TextIO, lines: list[str]) -> None:
    for line in lines:
        print(line, file=out, flush=True)


COMMANDS = {"restore": _run_restore, "failover": _run_failover, "status": _run_status, "az-loss": _run_az_loss}


def main(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """``sleep`` replaces the target's waiting (by default: advance the emulator's clock, or sleep on
    AWS); durations are always the target's (``Target.seconds``)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse has printed as one sentence
        return stop.code if isinstance(stop.code, int) else EXIT_SETUP
    try:
        with interrupt_signals():
            target = load_target(args.outputs_dir, env, suffix=args.suffix, kind=args.target)
            progress = Progress(out, target.seconds)
            wait = sleep or target.wait
            report = COMMANDS[args.command](target, args, restore.new_run_id(), progress, wait)
            return EXIT_OK if report is None else _publish(report, args.report_dir, out, target.now())
    except SetupError as error:
        print(f"Error: {error}", file=err)
    except FAILURES as error:
        print(f"Error: the target refused a request: {describe(error)}.", file=err)
    except KeyboardInterrupt:
        print("Interrupted before anything was created.", file=err)
        return EXIT_INTERRUPTED
    return EXIT_SETUP
