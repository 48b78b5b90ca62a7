"""Command line: ``python -m tools.local_aws COMMAND``: serve, start, stop, status, leftovers, fixes, tick, clock,
settle, soak, dashboard."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from lib.deploy_target import OutputsError, read_flat_outputs
from lib.output_keys import DASHBOARD_NAME

from . import control, server, settle, soak
from .dashboard import DashboardError, draw
from .outcomes import Observer


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=server.DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=server.DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument(
        "--without",
        default="",
        metavar="CODES",
        help="comma-separated fix codes not to apply (to see what a fix is for), e.g. R5,R6",
    )
    parser.add_argument(
        "--iam",
        choices=("on", "off"),
        help="IAM enforcement for the app's principals (default on; off only for debugging: $LOCAL_AWS_IAM)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.local_aws", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_server_options(commands.add_parser("serve", help="run the patched moto server in the foreground"))
    start = commands.add_parser("start", help="start the server in the background and wait until it answers")
    _add_server_options(start)
    start.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it (default %(default)s)")
    commands.add_parser("stop", help="stop the background server")
    commands.add_parser("status", help="say whether the background server runs (exit 1 if not)")
    leftovers = commands.add_parser("leftovers", help="list the app's resources still in the emulator (exit 1 if any)")
    leftovers.add_argument("--endpoint", help="endpoint URL (default: the running server, else $AWS_ENDPOINT_URL)")
    commands.add_parser("fixes", help="list the fixes applied to moto")
    tick = commands.add_parser(
        "tick", help="advance the emulator's clock, running what falls due on the way, and say what happened"
    )
    tick.add_argument("--minutes", type=_minutes, required=True, help="how far to advance the clock (> 0)")
    tick.add_argument(
        "--to-minute",
        type=int,
        choices=range(60),
        metavar="M",
        help="then on to the next hh:M, e.g. 6 to land just after an hourly backup (cron minute 0)",
    )
    tick.add_argument("--endpoint", help="endpoint URL (default: the running server, else $AWS_ENDPOINT_URL)")
    shown = tick.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="print only alarm state changes and the summary")
    shown.add_argument("--json", action="store_true", help="print what happened as one JSON document (for tests)")
    settle_parser = commands.add_parser(
        "settle", help="advance the clock until no AWS Backup job runs (before a local destroy, as time passes on AWS)"
    )
    settle_parser.add_argument("--endpoint", help="endpoint URL (default: the running server, else $AWS_ENDPOINT_URL)")
    clock = commands.add_parser("clock", help="print the emulator's current time")
    clock.add_argument("--endpoint", help="endpoint URL (default: the running server, else $AWS_ENDPOINT_URL)")
    drawn = commands.add_parser(
        "dashboard", help="draw the deployed CloudWatch dashboard with the emulator's data into one HTML file"
    )
    drawn.add_argument("--name", help="dashboard name (default: the recorded deployment's, cfn-outputs/)")
    drawn.add_argument("--hours", type=_minutes, default=3.0, help="how far back from the emulator's now (default 3)")
    drawn.add_argument("--out", type=Path, help="the HTML file (default: dashboard-reports/<name>.html)")
    drawn.add_argument("--endpoint", help="endpoint URL (default: the running server, else $AWS_ENDPOINT_URL)")
    soak.add_arguments(
        commands.add_parser(
            "soak", help="run N emulated days of normal operation on the deployment, then check its invariants"
        )
    )
    return parser


def _minutes(text: str) -> float:
    """A tick's length (or a window's): a positive, finite number."""
    try:
        minutes = float(text)
    except ValueError:
        minutes = math.nan
    if not math.isfinite(minutes) or minutes <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number greater than 0 (e.g. 60 or 0.5)")
    return minutes


def _codes(text: str) -> list[str]:
    return [code for code in text.split(",") if code.strip()]


def _clock_command(args: argparse.Namespace) -> int:
    endpoint = args.endpoint or server.default_endpoint()
    if args.command == "clock":
        print(control.call(endpoint, "clock")["now"])
        return 0
    minutes = args.minutes
    if args.to_minute is not None:
        landing = datetime.fromisoformat(control.call(endpoint, "clock")["now"]) + timedelta(minutes=minutes)
        minutes += (args.to_minute - landing.minute) % 60 - landing.second / 60
    session = control.operator_session()
    observer = Observer(lambda service: session.client(service, endpoint_url=endpoint))
    start, depths = datetime.fromisoformat(control.call(endpoint, "clock")["now"]), observer.queue_depths()
    answer = control.call(endpoint, "tick", {"minutes": max(minutes, 0)})
    outcomes = observer.observe(start, datetime.fromisoformat(answer["now"]), depths)
    failures = [f"{item['when']}  {item['name']}  FAILED: {item['error']}" for item in answer["fired"] if item["error"]]
    if args.json:
        print(json.dumps({**outcomes.to_json(), "emulator_failures": failures}, indent=2))
    else:
        print("\n".join(failures + outcomes.lines(quiet=args.quiet) + [f"now {answer['now']}"]))
    return 1 if failures else 0


def _dashboard_command(args: argparse.Namespace) -> int:
    endpoint = args.endpoint or server.default_endpoint()
    name = args.name
    if name is None:
        try:
            name = read_flat_outputs()[DASHBOARD_NAME]
        except (OutputsError, KeyError):
            print("No recorded deployment names a dashboard: run `make deploy`, or give --name.", file=sys.stderr)
            return 2
    session = control.operator_session()
    now = datetime.fromisoformat(control.call(endpoint, "clock")["now"])
    out = args.out or Path("dashboard-reports") / f"{name}.html"
    try:
        drawn = draw(lambda service: session.client(service, endpoint_url=endpoint), name, now, args.hours, out)
    except DashboardError as error:
        print(f"Cannot draw the dashboard: {error}.", file=sys.stderr)
        return 2
    print(f"Dashboard {name} ({args.hours:g} h to {now:%Y-%m-%d %H:%M} UTC): {drawn}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "iam", None):
        os.environ["LOCAL_AWS_IAM"] = args.iam  # read by pipeline/policy.py (the server inherits it)
    try:
        if args.command == "serve":
            server.serve(args.host, args.port, _codes(args.without))
        elif args.command == "start":
            record = server.start(args.host, args.port, _codes(args.without), args.timeout)
            print(record.url)
        elif args.command == "stop":
            stopped = server.stop()
            print(f"Stopped the local AWS server (pid {stopped.pid})." if stopped else "No local AWS server runs.")
        elif args.command == "status":
            running = server.running_server()
            if running is None:
                print("No local AWS server runs.")
                return 1
            print(f"Running at {running.url} (pid {running.pid}, RSS {running.rss_megabytes():.0f} MB).")
        elif args.command == "leftovers":
            from .leftovers import main as leftovers_main

            return leftovers_main(args.endpoint)
        elif args.command in ("tick", "clock"):
            return _clock_command(args)
        elif args.command == "settle":
            minutes = settle.settle(args.endpoint or server.default_endpoint())
            print(f"No AWS Backup job runs ({minutes} emulated minutes advanced).")
        elif args.command == "soak":
            return soak.main(args)
        elif args.command == "dashboard":
            return _dashboard_command(args)
        elif args.command == "fixes":
            from .patches import all_fixes

            for fix in all_fixes():
                print(f"{fix.code:4} {fix.name}: {fix.summary}")
    except (
        server.LauncherError,
        control.ControlError,
        ValueError,
    ) as error:  # ValueError: an unknown fix code in --without
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
