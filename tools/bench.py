"""Benchmark what engineers wait for: synth, the tests, the local deploy cycle -- against the floor.

``python -m tools.bench [--repeat 3] [--cases synth,floor,...] [--output bench-results.json]``
(``make bench``). Each case is a whole command run in a child process; the cases are interleaved
(round 1 runs every case once, then round 2, ...) because these machines are noisy: compare ratios
from one run, not absolute times across runs. Prints min / median / max per case and the ratios the
targets are stated in, and writes everything as JSON. ``--profile`` adds where one in-process synth
spends its time (import, construct tree, synth with cdk-nag, CDK validation and asset staging).

The floor is the cheapest CDK app synthesized the same way: one stack, one SNS topic.

The ``soak`` case deploys to the local emulator, runs a 7-day soak (``make soak``) and destroys; besides
its whole time it records the wall time of each emulated day and the ratio of the last day to the
first (target: at most 1.2, flat cost per emulated day), from the soak's report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FLOOR_APP = """
import aws_cdk as cdk
from aws_cdk import aws_sns as sns

app = cdk.App()
stack = cdk.Stack(app, "Floor", env=cdk.Environment(account="123456789012", region="us-east-1"))
sns.Topic(stack, "Topic")
app.synth()
"""
PROFILE = """
import json, sys, time
started = time.perf_counter()
import aws_cdk as cdk
imported = time.perf_counter()
sys.path.insert(0, {root!r})
from lib.app import build_app, new_app
app = new_app(outdir=sys.argv[1])
build_app(app)
built = time.perf_counter()
app.synth()
synthesized = time.perf_counter()
print(json.dumps({{"import aws_cdk": imported - started, "construct tree (build_app)": built - imported,
                  "synth (aspects, cdk-nag, DR gate, waiting for CloudFormation validation, assets, writing)":
                  synthesized - built}}))
"""


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    command: Callable[[Path], list[str]]
    environment: dict[str, str] | None = None
    # What a run measured besides its time, read after it from the scratch directory.
    details: Callable[[Path], dict[str, Any]] | None = None


def _cdk(app: str | None = None) -> Callable[[Path], list[str]]:
    def command(scratch: Path) -> list[str]:
        base = ["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(scratch / "cdk.out")]
        return [*base, "--app", app.format(scratch=scratch)] if app else base

    return command


SOAK_DAYS = 7
DAY_RATIO_TARGET = 1.2


def _soak_days(scratch: Path) -> dict[str, Any]:
    """Per-day wall and CPU times of the soak's report, the last day over the first, the broken
    invariants. CPU time (the server and its functions) shows growth even on a busy machine."""
    report = json.loads((scratch / "soak.json").read_text())
    walls = [day["wall_seconds"] for day in report["per_day"]]
    return {
        "day_wall_s": walls,
        "day_cpu_s": [day["cpu_seconds"] for day in report["per_day"]],
        "last_over_first": walls[-1] / walls[0],
        "last_over_first_cpu": report["last_day_over_first_cpu"],
        "broken_invariants": [check["name"] for check in report["invariants"] if not check["passed"]],
    }


CASES = {
    "synth": Case("synth", "full app, in-process (bin/app.py)", lambda s: [PYTHON, "bin/app.py"]),
    "synth-cli": Case("synth-cli", "full app through `npx cdk synth`", _cdk()),
    "floor": Case("floor", "floor app, in-process", lambda s: [PYTHON, str(s / "floor.py")]),
    "floor-cli": Case("floor-cli", "floor app through `npx cdk synth`", _cdk(f"{PYTHON} {{scratch}}/floor.py")),
    "unit": Case(
        "unit", "pytest tests/unit", lambda s: [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"]
    ),
    "emulator": Case(
        "emulator",
        "pytest tests/local_aws tests/dr_drill",
        lambda s: [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/local_aws", "tests/dr_drill"],
    ),
    "cycle": Case(
        "cycle",
        "make deploy + integration + destroy (local)",
        lambda s: [
            "bash",
            "-c",
            "make deploy >/dev/null && make integration >/dev/null; status=$?; "
            "make destroy >/dev/null || status=1; exit $status",
        ],
    ),
    # A broken invariant (soak exit 1) is recorded in the details, not a failed run: the times still count.
    # The soak runs directly, not through make, whose exit status would hide the soak's own (1 or 2).
    "soak": Case(
        "soak",
        f"make deploy + {SOAK_DAYS}-day soak + destroy (local)",
        lambda s: [
            "bash",
            "-c",
            f"make deploy >/dev/null && {{ {PYTHON} -m tools.local_aws soak --days {SOAK_DAYS} "
            f"--report {s}/soak.json >/dev/null; [ $? -le 1 ]; }}; status=$?; "
            "make destroy >/dev/null || status=1; exit $status",
        ],
        details=_soak_days,
    ),
}
DEFAULT_CASES = ("synth", "synth-cli", "floor", "floor-cli", "unit")
RATIOS = (
    ("synth / floor (in-process)", "synth", "floor", 1.5),
    ("synth / floor (CLI)", "synth-cli", "floor-cli", 1.5),
    ("unit tests / one synth", "unit", "synth", 1.5),
)


def run(
    cases: list[Case], repeat: int, scratch: Path
) -> tuple[dict[str, list[float]], dict[str, list[dict[str, Any]]]]:
    """Seconds per case and each run's details, interleaved rounds; a failing command stops the
    benchmark with its name."""
    (scratch / "floor.py").write_text(FLOOR_APP)
    environment = {
        **os.environ,
        "CDK_OUTDIR": str(scratch / "cdk.out"),
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    timings: dict[str, list[float]] = {case.name: [] for case in cases}
    details: dict[str, list[dict[str, Any]]] = {case.name: [] for case in cases if case.details}
    for round_number in range(1, repeat + 1):
        for case in cases:
            started = time.perf_counter()
            done = subprocess.run(
                case.command(scratch), cwd=REPO_ROOT, env=environment, capture_output=True, check=False
            )
            elapsed = time.perf_counter() - started
            if done.returncode:
                tail = done.stderr.decode(errors="replace")[-600:] or done.stdout.decode(errors="replace")[-600:]
                raise SystemExit(f"bench: case {case.name!r} failed (exit {done.returncode}):\n{tail}")
            timings[case.name].append(elapsed)
            print(f"round {round_number}/{repeat}  {case.name:10} {elapsed:7.2f} s", flush=True)
            if case.details:
                details[case.name].append(case.details(scratch))
    return timings, details


def profile(scratch: Path) -> dict[str, float]:
    done = subprocess.run(
        [PYTHON, "-c", PROFILE.format(root=str(REPO_ROOT)), str(scratch / "profile.out")],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    )
    return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))


def summarize(timings: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": len(values)}
        for name, values in timings.items()
        if values
    }


def ratios(summary: dict[str, dict[str, float]]) -> list[dict[str, object]]:
    return [
        {"ratio": label, "value": summary[top]["median"] / summary[bottom]["median"], "target": target}
        for label, top, bottom, target in RATIOS
        if top in summary and bottom in summary
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default %(default)s)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--profile", action="store_true", help="also profile one in-process synth")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench-results.json")
    args = parser.parse_args(argv)
    unknown = [name for name in args.cases.split(",") if name not in CASES]
    if unknown or args.repeat < 1:
        parser.error(
            f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}"
            if unknown
            else "--repeat must be at least 1"
        )
    cases = [CASES[name] for name in args.cases.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        timings, details = run(cases, args.repeat, Path(scratch))
        phases = profile(Path(scratch)) if args.profile else {}
    summary = summarize(timings)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "cases": summary,
        "ratios": ratios(summary),
        "synth_phases_s": phases,
        "raw_s": timings,
        "details": details,
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'case':10} {'min':>8} {'median':>8} {'max':>8}   what")
    for case in cases:
        row = summary[case.name]
        print(f"{case.name:10} {row['min']:8.2f} {row['median']:8.2f} {row['max']:8.2f}   {case.what}")
    for ratio in ratios(summary):
        print(f"{ratio['ratio']}: {ratio['value']:.2f} (target <= {ratio['target']})")
    for soak in details.get("soak", []):
        days = ", ".join(f"{wall:.1f}" for wall in soak["day_wall_s"])
        broken = f"; broken invariants: {', '.join(soak['broken_invariants'])}" if soak["broken_invariants"] else ""
        print(
            f"soak: seconds per emulated day {days}; day {len(soak['day_wall_s'])} / day 1: "
            f"{soak['last_over_first']:.2f} (target <= {DAY_RATIO_TARGET}){broken}"
        )
    for phase, seconds in phases.items():
        print(f"synth phase  {phase}: {seconds:.2f} s")
    print(f"Results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
