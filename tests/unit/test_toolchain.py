"""The Node.js that runs the CDK CLI and jsii is the LTS package.json pins, not the machine's.

jsii prints an end-of-life banner on every synth when Node.js is past its end of life (Node.js
release schedule, https://nodejs.org/en/about/previous-releases). The Makefile puts
``node_modules/.bin`` first on PATH; this checks that what is found there is a supported LTS and that
jsii, started with that PATH, prints no banner.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"


def test_package_json_pins_an_even_numbered_lts_release_exactly() -> None:
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["node"]

    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"node is pinned as {pinned!r}: an exact version, please"
    major = int(pinned.split(".")[0])
    assert major % 2 == 0 and major >= 22, f"Node.js {major} is not an LTS line jsii supports"


def test_make_runs_the_pinned_node_first_on_path() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()

    assert "export PATH := $(CURDIR)/node_modules/.bin:$(PATH)" in makefile
    assert "JSII_SILENCE_WARNING" not in makefile  # nothing hides the banner: there is none to hide


def test_jsii_runs_on_the_pinned_node_without_an_end_of_life_banner() -> None:
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["node"]
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env = {key: value for key, value in env.items() if not key.startswith("JSII_SILENCE")}

    version = subprocess.run(["node", "--version"], env=env, capture_output=True, text=True, check=True, timeout=30)
    started = subprocess.run(
        [sys.executable, "-c", "import aws_cdk"], env=env, capture_output=True, text=True, timeout=120, check=True
    )

    assert version.stdout.strip() == f"v{pinned}"
    assert "end-of-life" not in started.stderr and "not supported" not in started.stderr, started.stderr[:500]
