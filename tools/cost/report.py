"""The estimates as a text table, as the Markdown docs/COST.md embeds, and as JSON.

One row per priced item of a resource, with its quantity and monthly dollars under each scenario;
then per profile the totals against the naive design, the drivers that dominate, and for a profile
with a budget whether it is met and, if not, which drivers stand in the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .model import NAIVE, NAIVE_DB_CLASS, NOT_PRICED, OURS, Budget, Estimate, Prices

SHOWN_DRIVERS = 5
CENT = 0.005


@dataclass(frozen=True)
class Profile:
    """The estimates of one assembly: ``estimates[(scenario, design)]``."""

    label: str
    directory: str
    scenarios: list[str]
    estimates: dict[tuple[str, str], Estimate]

    def ours(self, scenario: str) -> Estimate:
        return self.estimates[(scenario, OURS)]

    def naive(self, scenario: str) -> Estimate:
        return self.estimates[(scenario, NAIVE)]


@dataclass(frozen=True)
class Row:
    resource: str
    item: str
    cells: list[tuple[str, float]]  # (quantity, usd) per scenario; ("", 0) where the scenario has no such line


def rows(profile: Profile) -> list[Row]:
    """Our design's lines, one row per (resource, item) across the scenarios, most expensive first."""
    keys: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for index, scenario in enumerate(profile.scenarios):
        for line in profile.ours(scenario).lines:
            cells = keys.setdefault((line.resource, line.item), [("", 0.0)] * len(profile.scenarios))
            cells[index] = (line.quantity, line.usd)
    found = [Row(resource, item, cells) for (resource, item), cells in keys.items()]
    return sorted(found, key=lambda row: (-sum(usd for _, usd in row.cells), row.resource, row.item))


def drivers_text(estimate: Estimate) -> str:
    total = estimate.total or 1.0
    return ", ".join(
        f"{driver} ${usd:,.2f} ({usd / total:.0%})" for driver, usd in estimate.drivers()[:SHOWN_DRIVERS] if usd >= CENT
    )


def budget_verdict(estimate: Estimate, budget: Budget) -> str:
    """Met, or by how much not, and the largest drivers whose removal would be needed to get there."""
    total = estimate.total
    if total <= budget.usd:
        return f"budget ≤ ${budget.usd:,.0f}: met (${total:,.2f})"
    in_the_way, left = [], total
    for driver, usd in estimate.drivers():
        if left <= budget.usd:
            break
        in_the_way.append(f"{driver} ${usd:,.2f}")
        left -= usd
    return (
        f"budget ≤ ${budget.usd:,.0f}: NOT met (${total:,.2f}, ${total - budget.usd:,.2f} over); "
        f"in the way: {', '.join(in_the_way)}"
    )


def _budgets(profile: Profile, budgets: Sequence[Budget]) -> list[tuple[str, str]]:
    return [
        (b.scenario, budget_verdict(profile.ours(b.scenario), b))
        for b in budgets
        if b.profile == profile.label and b.scenario in profile.scenarios
    ]


def _notes(profile: Profile) -> list[str]:
    notes: list[str] = []
    for scenario in profile.scenarios:
        notes += [n for n in profile.ours(scenario).notes if n not in notes]
    return notes


def text(profiles: Sequence[Profile], prices: Prices, budgets: Sequence[Budget]) -> str:
    """The table for a terminal."""
    out = [f"Estimated monthly cost, {prices.region}. Prices: {prices.as_of}.", f"Free tiers: {prices.free_tiers}.", ""]
    for profile in profiles:
        out.append(f"== profile {profile.label} ({profile.directory}) ==")
        for scenario in profile.scenarios:
            out.append(f"  {scenario}: {profile.ours(scenario).scenario.description}")
        header = ["resource", "priced item"] + [f"{s} quantity|{s} $/month" for s in profile.scenarios]
        table = [
            [row.resource, row.item] + [f"{q}|{usd:,.2f}" if q else "|" for q, usd in row.cells]
            for row in rows(profile)
        ]
        out += _aligned([_split(header)] + [_split(r) for r in table])
        for scenario in profile.scenarios:
            ours, naive = profile.ours(scenario), profile.naive(scenario)
            out.append(
                f"  {scenario}: total ${ours.total:,.2f}; naive design (NAT gateway per AZ, "
                f"{NAIVE_DB_CLASS} per DB instance) ${naive.total:,.2f}"
            )
            out.append(f"    drivers: {drivers_text(ours)}")
            out.append(f"    naive drivers: {drivers_text(naive)}")
        out += [f"  {scenario}: {verdict}" for scenario, verdict in _budgets(profile, budgets)]
        out += ["  notes:"] + [f"    - {note}" for note in _notes(profile)]
        first = profile.ours(profile.scenarios[0])
        out.append("  no charge of their own:")
        out += [
            f"    - {reason}: {len(names)} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
            for reason, names in sorted(first.free.items())
        ]
        out.append(f"  {_not_priced(first)}")
        out.append("")
    out += _summary_text(profiles)
    return "\n".join(out) + "\n"


def _not_priced(estimate: Estimate) -> str:
    listed = ", ".join(estimate.not_priced) or "none"
    return f"{NOT_PRICED}; the model does not know them: {listed}"


def _summary_text(profiles: Sequence[Profile]) -> list[str]:
    table = [["profile", "scenario", "ours $/month", "naive $/month", "naive - ours"]]
    for profile in profiles:
        for scenario in profile.scenarios:
            ours, naive = profile.ours(scenario).total, profile.naive(scenario).total
            table.append([profile.label, scenario, f"{ours:,.2f}", f"{naive:,.2f}", f"{naive - ours:,.2f}"])
    return ["== ours against the naive design ==", *_aligned(table)]


def _split(cells: list[str]) -> list[str]:
    return [part for cell in cells for part in cell.split("|")]


def _aligned(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    numeric = [i for i in range(len(widths)) if all(_is_number(row[i]) for row in table[1:])]
    return [
        "  "
        + "  ".join(
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def _is_number(cell: str) -> bool:
    return cell == "" or cell.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def markdown(profiles: Sequence[Profile], prices: Prices, budgets: Sequence[Budget]) -> str:
    """The tables docs/COST.md embeds."""
    out = [
        "| profile | scenario | ours $/month | naive $/month | what dominates (ours) |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for profile in profiles:
        for scenario in profile.scenarios:
            ours, naive = profile.ours(scenario), profile.naive(scenario)
            out.append(
                f"| {profile.label} | {scenario} | {ours.total:,.2f} | {naive.total:,.2f} | {drivers_text(ours)} |"
            )
    out.append("")
    for profile in profiles:
        out.append(f"**{profile.label}**")
        out.append("")
        out += [f"- {scenario}: {verdict}" for scenario, verdict in _budgets(profile, budgets)]
        out += [f"- {note}" for note in _notes(profile)]
        out.append(f"- {_not_priced(profile.ours(profile.scenarios[0]))}")
        out += ["", f"<details><summary>{profile.label}: every item of a cent or more</summary>", ""]
        head = " | ".join(f"{s} quantity | {s} $" for s in profile.scenarios)
        out.append(f"| resource | priced item | {head} |")
        out.append("| --- | --- |" + " --- | ---: |" * len(profile.scenarios))
        for row in rows(profile):
            if all(usd < CENT for _, usd in row.cells):
                continue
            cells = " | ".join(f"{q} | {usd:,.2f}" if q else " | " for q, usd in row.cells)
            out.append(f"| {row.resource} | {row.item} | {cells} |")
        totals = " | ".join(f" | **{profile.ours(s).total:,.2f}**" for s in profile.scenarios)
        out += [f"| **total** | | {totals} |", "", "</details>", ""]
    out.append(f"Prices: {prices.region}, {prices.as_of}. Free tiers: {prices.free_tiers}.")
    return "\n".join(out) + "\n"


def as_json(profiles: Sequence[Profile], prices: Prices, budgets: Sequence[Budget]) -> dict[str, Any]:
    def estimate(e: Estimate) -> dict[str, Any]:
        return {
            "total": round(e.total, 2),
            "drivers": dict(e.drivers()),
            "lines": [asdict(line) for line in e.lines],
            "notes": e.notes,
            "free": dict(e.free),
            "not_priced": e.not_priced,
        }

    return {
        "prices": {"region": prices.region, "as_of": prices.as_of, "free_tiers": prices.free_tiers},
        "profiles": [
            {
                "label": p.label,
                "directory": p.directory,
                "scenarios": {
                    s: {
                        "description": p.ours(s).scenario.description,
                        OURS: estimate(p.ours(s)),
                        NAIVE: estimate(p.naive(s)),
                    }
                    for s in p.scenarios
                },
                "budgets": [{"scenario": s, "verdict": v} for s, v in _budgets(p, budgets)],
            }
            for p in profiles
        ],
    }
