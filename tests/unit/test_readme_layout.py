"""The README's project layout cannot go stale: each path it lists exists, and each part of the code is listed.

The parts are the entries of bin/, lib/, tools/, tests/ and docs/ (files and folders), and in the folders
whose entries are each a thing of their own, lib/lambda/ (a function each) and lib/constructs/ (a construct
each), every entry too.
"""

from __future__ import annotations

from pathlib import Path

from lib.deploy_target import REPO_ROOT

ROOTS = ("bin", "lib", "tools", "tests", "docs")
LISTED_ONE_BY_ONE = ("lib/lambda", "lib/constructs")


def layout_block(readme: str) -> list[str]:
    """The lines of the code block under the README's "Project layout" heading."""
    section = readme.split("\n## Project layout\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def listed_paths(readme: str) -> set[str]:
    """The path each entry line starts with (indented lines continue the previous entry's description)."""
    return {line.split()[0].rstrip("/") for line in layout_block(readme) if line and not line[0].isspace()}


def parts(root: Path) -> set[str]:
    """What the layout has to list, as paths relative to ``root``."""

    def entries(folder: str) -> set[str]:
        return {
            f"{folder}/{child.name}"
            for child in (root / folder).iterdir()
            if not child.name.startswith((".", "__")) and child.suffix != ".pyc"
        }

    found = set().union(*(entries(folder) for folder in ROOTS))
    return found.union(*(entries(folder) for folder in LISTED_ONE_BY_ONE)) - set(LISTED_ONE_BY_ONE)


def test_every_listed_path_exists() -> None:
    listed = listed_paths((REPO_ROOT / "README.md").read_text())
    assert listed, "no project layout found in README.md"
    missing = sorted(path for path in listed if not (REPO_ROOT / path).exists())
    assert not missing, f"README.md's project layout lists paths that do not exist: {missing}"


def test_every_part_of_the_code_is_listed() -> None:
    listed = listed_paths((REPO_ROOT / "README.md").read_text())
    unlisted = sorted(parts(REPO_ROOT) - listed)
    assert not unlisted, f"README.md's project layout does not list: {unlisted}"


def test_the_check_finds_an_unlisted_part_and_a_stale_entry(tmp_path: Path) -> None:
    """The checks themselves: a function folder missing from the layout and an entry for a removed module."""
    for folder in (*ROOTS, *LISTED_ONE_BY_ONE):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "lib/lambda/canary").mkdir()
    (tmp_path / "lib/lambda/canary/__pycache__").mkdir()
    (tmp_path / "lib/__init__.py").touch()
    (tmp_path / "bin/app.py").touch()
    readme = (
        "# Kit\n\n## Project layout\n\n```\n"
        "bin/app.py   entry point\n"
        "             more about it\n"
        "lib/gone.py  removed\n"
        "```\n"
    )

    assert listed_paths(readme) == {"bin/app.py", "lib/gone.py"}
    assert parts(tmp_path) - listed_paths(readme) == {"lib/lambda/canary"}
