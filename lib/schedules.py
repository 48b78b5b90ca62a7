"""Schedule expressions as EventBridge and AWS Backup write them: ``rate(...)`` and ``cron(...)``.

The DR gate asks how long a backup rule can leave between two runs (``longest_gap``); the local
emulator asks when its scheduled rules and backup plans fall due (``occurrences``).

``occurrences(expression, start, end, anchor)`` lists the instants in ``(start, end]`` at which the
schedule fires. A rate fires every period counted from ``anchor`` (when the rule was created, as in
EventBridge); a cron fires at every minute matching its six fields (minutes hours day-of-month month
day-of-week year, UTC). Supported cron syntax: ``*``, ``?``, numbers, ``a-b``, ``a,b``, ``*/n`` and
``a/n``, and day/month names; ``L``, ``W`` and ``#`` are refused by name.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import pairwise

RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((.+)\)$")
UNIT = {"minute": 60, "hour": 3600, "day": 86400}
MONTHS = {name: n for n, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN"), 1)} | {
    name: n for n, name in enumerate(("JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 7)
}
DAYS = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
# (lowest, highest, names) of the six cron fields; day-of-week counts 1 = Sunday as in EventBridge.
NO_NAMES: dict[str, int] = {}
FIELDS = (
    (0, 59, NO_NAMES),
    (0, 23, NO_NAMES),
    (1, 31, NO_NAMES),
    (1, 12, MONTHS),
    (1, 7, DAYS),
    (1970, 2199, NO_NAMES),
)


class ScheduleError(ValueError):
    """An expression this emulator cannot read; the message names it and what is supported."""


def occurrences(expression: str, start: datetime, end: datetime, anchor: datetime) -> list[datetime]:
    """Instants in ``(start, end]`` at which ``expression`` fires."""
    expression = expression.strip()
    rate = RATE.match(expression)
    if rate:
        period = timedelta(seconds=int(rate.group(1)) * UNIT[rate.group(2).rstrip("s")])
        if period <= timedelta(0):
            raise ScheduleError(f"schedule {expression!r} has a zero period")
        first = anchor + period * (max(0, (start - anchor) // period) + 1)
        result = []
        while first <= end:
            if first > start:
                result.append(first)
            first += period
        return result
    cron = CRON.match(expression)
    if not cron:
        raise ScheduleError(f"schedule {expression!r} is neither rate(N minutes|hours|days) nor cron(six fields)")
    minutes, hours, days, months, weekdays, years = _cron_fields(expression, cron.group(1))
    result = []
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment <= end:
        weekday = (moment.isoweekday() % 7) + 1  # Sunday = 1
        if (
            moment.minute in minutes
            and moment.hour in hours
            and moment.month in months
            and moment.year in years
            and (days is None or moment.day in days)
            and (weekdays is None or weekday in weekdays)
        ):
            result.append(moment)
        moment += timedelta(minutes=1)
    return result


CronFields = tuple[set[int], set[int], set[int] | None, set[int], set[int] | None, set[int]]


def _cron_fields(expression: str, body: str) -> CronFields:
    """minutes, hours, days of month, months, days of week, years; a day field is None when "?"."""
    parts = body.split()
    if len(parts) != 6:
        raise ScheduleError(f"schedule {expression!r} must have six cron fields, it has {len(parts)}")
    minutes, hours, days, months, weekdays, years = (
        _field(expression, text, *spec) for text, spec in zip(parts, FIELDS, strict=True)
    )
    # "?" (any) in day-of-month or day-of-week leaves only the other one to match.
    return (
        minutes,
        hours,
        None if parts[2] == "?" else days,
        months,
        None if parts[4] == "?" else weekdays,
        years,
    )


def _field(expression: str, text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    if any(mark in text.upper() for mark in ("L", "W", "#")) and not any(n in text.upper() for n in names):
        raise ScheduleError(f"schedule {expression!r} uses L, W or #, which the emulator does not support")
    chosen: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _value(expression, first_text, names), _value(expression, last_text, names)
        else:
            first = _value(expression, base, names)
            last = high if step_text else first
        chosen.update(range(first, last + 1, step))
    return chosen


def _value(expression: str, text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not upper.isdigit():
        raise ScheduleError(f"schedule {expression!r} has an unreadable cron value {text!r}")
    return int(upper)


def longest_gap(expression: str, anchor: datetime) -> timedelta:
    """The longest time between two runs of ``expression`` over the eight days after ``anchor``
    (enough for weekly patterns); a schedule that does not run twice in that time has no bound
    worth having and answers the whole window."""
    window = timedelta(days=8)
    moments = occurrences(expression, anchor, anchor + window, anchor)
    if len(moments) < 2:
        return window
    return max(later - earlier for earlier, later in pairwise(moments))
