"""The backup's schedule: a systemd ``OnCalendar`` expression, and its cron form for hosts where
systemd is not PID 1.

The forms read here (systemd.time(7)): the shorthands ``minutely``, ``hourly``, ``daily``,
``weekly``, ``monthly``, ``quarterly``, ``semiannually``, ``yearly``/``annually``, and
``[WEEKDAYS] [[YEAR-]MONTH-DAY] HOUR:MINUTE[:SECOND]`` whose fields are ``*``, numbers, lists
(``1,15``), ranges (``1..5``) and repetitions (``*/6``, ``2/6``); weekdays are names, lists and
ranges (``Mon..Fri``). Anything else (time zones, ``~`` for the last days of a month) is refused
by name rather than guessed.

cron has no seconds and no years, and it runs a job when *either* the day of the month *or* the
weekday matches where systemd wants both: such schedules have no cron form, and the operator
writes one (``backup.cron``) rather than get a fallback that runs at other times.
"""

from __future__ import annotations

import re

from bootstrap.hosts.model import KeyProblem

SHORTHANDS = {
    "minutely": "* * * * *",
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 1",
    "monthly": "0 0 1 * *",
    "quarterly": "0 0 1 1,4,7,10 *",
    "semiannually": "0 0 1 1,7 *",
    "yearly": "0 0 1 1 *",
    "annually": "0 0 1 1 *",
}
DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
FULL_DAYS = {"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5,
             "saturday": 6, "sunday": 7}
VALUE = r"\d{1,4}"
ITEM = re.compile(rf"(?P<start>\*|{VALUE})(?:\.\.(?P<end>{VALUE}))?(?:/(?P<step>\d{{1,4}}))?")
CRON_FIELD = re.compile(r"[0-9*,/-]+")
EXAMPLE = "like '*-*-* 02:30:00', 'daily' or 'Mon..Fri 22:00'"


def _field(text: str, low: int, high: int, what: str) -> str:
    """One date or time field as cron writes it; KeyProblem when out of range."""
    out = []
    for item in text.split(","):
        match = ITEM.fullmatch(item)
        if match is None:
            raise KeyProblem(f"{what} {item!r} is not '*', a number, a range a..b or a step a/n")
        start, end, step = match["start"], match["end"], match["step"]
        numbers = [int(n) for n in (start, end) if n not in (None, "*")]
        if any(not low <= n <= high for n in numbers):
            raise KeyProblem(f"{what} {item!r} is outside {low}..{high}")
        if start == "*" and end is not None:
            raise KeyProblem(f"{what} {item!r}: a range runs between two numbers")
        if step is not None and int(step) == 0:
            raise KeyProblem(f"{what} {item!r}: a repetition of 0 never repeats")
        cron = start if end is None else f"{start}-{end}"
        if step is not None:
            cron = f"{cron if start == '*' or end else f'{start}-{high}'}/{int(step)}"
        out.append(cron if start == "*" else re.sub(r"\d+", lambda m: str(int(m[0])), cron))
    return ",".join(out)


def _weekdays(text: str) -> str:
    out = []
    for item in text.split(","):
        ends = item.lower().split("..")
        if len(ends) > 2 or not all(e in DAYS or e in FULL_DAYS for e in ends):
            raise KeyProblem(f"is not an OnCalendar expression ({EXAMPLE}): {item!r} is not "
                             f"a weekday (Mon..Sun) or a range of two")
        numbers = [DAYS.get(e) or FULL_DAYS[e] for e in ends]
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            raise KeyProblem(f"weekday range {item!r} runs backwards")
        out.append("-".join(str(n) for n in numbers))
    return ",".join(out)


def parse(expression: str) -> str | None:
    """The cron form (five fields) of an OnCalendar expression; None when cron cannot say it.

    KeyProblem when the expression is not one of the forms this module reads.
    """
    text = " ".join(expression.split())
    if not text or not expression.isprintable():
        raise KeyProblem(f"is not an OnCalendar expression ({EXAMPLE})")
    if text.lower() in SHORTHANDS:
        return SHORTHANDS[text.lower()]
    words = text.split(" ")
    weekdays = "*"
    if words and re.fullmatch(r"[A-Za-z][A-Za-z.,]*", words[0]):
        weekdays = _weekdays(words.pop(0))
    if not words or len(words) > 2:
        raise KeyProblem(f"{expression!r} is not an OnCalendar expression this role reads "
                         f"({EXAMPLE}; no time zones)")
    date = words[0] if len(words) == 2 else "*-*-*"
    time = words[-1]
    if ":" not in time or "-" in time or (len(words) == 2 and "-" not in date):
        raise KeyProblem(f"{expression!r} is not an OnCalendar expression this role reads "
                         f"({EXAMPLE}; no time zones)")
    if "~" in date:
        raise KeyProblem(f"{expression!r}: '~' (days counted from the end of the month) has no "
                         f"place in this role's schedules; name the days")
    parts = date.split("-")
    if len(parts) == 2:
        parts.insert(0, "*")
    if len(parts) != 3:
        raise KeyProblem(f"date {date!r} is not [YEAR-]MONTH-DAY")
    times = time.split(":")
    if len(times) == 2:
        times.append("00")
    if len(times) != 3:
        raise KeyProblem(f"time {time!r} is not HOUR:MINUTE[:SECOND]")
    year = _field(parts[0], 1970, 2199, "year")
    month = _field(parts[1], 1, 12, "month")
    day = _field(parts[2], 1, 31, "day")
    hour = _field(times[0], 0, 23, "hour")
    minute = _field(times[1], 0, 59, "minute")
    second = _field(times[2], 0, 59, "second")
    if year != "*" or second != "0" or (day != "*" and weekdays != "*"):
        return None
    return f"{minute} {hour} {day} {month} {weekdays}"


def check_calendar(value: str) -> str:
    parse(value)
    return value


def check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(CRON_FIELD.fullmatch(f) for f in fields):
        raise KeyProblem(f"{value!r} is not five cron fields (minute hour day month weekday, "
                         f"digits and * , - / only)")
    return " ".join(fields)
