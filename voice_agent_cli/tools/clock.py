"""The local date and time, or the time in any IANA time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownTimeZone(ValueError):
    """The time zone name is not one the system's time zone database knows."""


def now(timezone: str | None = None, *, at: datetime | None = None) -> dict[str, Any]:
    """The date and time in ``timezone`` (default: the machine's), as plain data.

    ``at`` fixes the instant (an aware datetime), for tests.
    """
    instant = at or datetime.now().astimezone()
    if timezone:
        try:
            zone = ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise UnknownTimeZone(
                f"unknown time zone {timezone!r}: use an IANA name such as Europe/Paris"
            ) from None
        instant = instant.astimezone(zone)
    offset = instant.utcoffset() or timedelta(0)
    return {
        "iso": instant.isoformat(timespec="seconds"),
        "date": instant.strftime("%Y-%m-%d"),
        "time": instant.strftime("%H:%M"),
        "weekday": instant.strftime("%A"),
        "timezone": timezone.strip() if timezone else (instant.tzname() or "local"),
        "utc_offset": _format_offset(offset),
    }


def describe(moment: dict[str, Any]) -> str:
    """One sentence a voice can say: "Friday 27 November 2026, 14:05 (Europe/Paris, UTC+01:00)"."""
    date = datetime.fromisoformat(moment["iso"])
    day = f"{moment['weekday']} {date.day} {date.strftime('%B %Y')}"
    return f"{day}, {moment['time']} ({moment['timezone']}, UTC{moment['utc_offset']})"


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
