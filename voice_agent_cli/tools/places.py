"""Place names people say ("Tokyo", "New York", "California") to IANA time zones.

The system's time zone database already names a zone after a big city of
each region (``Asia/Tokyo``, ``America/New_York``): those cities are found by
their last path segment. Places it does not name (other big cities, and
countries or states that keep one time) come from a short table. A country
with several zones (the United States, Russia, Brazil ...) is not guessed.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

#: Places the zone names leave out, said the way people say them.
_ALIASES: dict[str, str] = {
    # cities
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "las vegas": "America/Los_Angeles",
    "san diego": "America/Los_Angeles",
    "boston": "America/New_York",
    "washington": "America/New_York",
    "washington dc": "America/New_York",
    "miami": "America/New_York",
    "atlanta": "America/New_York",
    "philadelphia": "America/New_York",
    "dallas": "America/Chicago",
    "houston": "America/Chicago",
    "austin": "America/Chicago",
    "montreal": "America/Toronto",
    "beijing": "Asia/Shanghai",
    "shenzhen": "Asia/Shanghai",
    "mumbai": "Asia/Kolkata",
    "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "osaka": "Asia/Tokyo",
    "kyoto": "Asia/Tokyo",
    "hanoi": "Asia/Bangkok",
    "saigon": "Asia/Ho_Chi_Minh",
    "barcelona": "Europe/Madrid",
    "munich": "Europe/Berlin",
    "hamburg": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "milan": "Europe/Rome",
    "venice": "Europe/Rome",
    "florence": "Europe/Rome",
    "geneva": "Europe/Zurich",
    "manchester": "Europe/London",
    "edinburgh": "Europe/London",
    "st petersburg": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow",
    "rio": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo",
    "wellington": "Pacific/Auckland",
    "cape town": "Africa/Johannesburg",
    "tel aviv": "Asia/Jerusalem",
    # countries and states with a single time
    "japan": "Asia/Tokyo",
    "china": "Asia/Shanghai",
    "india": "Asia/Kolkata",
    "korea": "Asia/Seoul",
    "south korea": "Asia/Seoul",
    "france": "Europe/Paris",
    "germany": "Europe/Berlin",
    "italy": "Europe/Rome",
    "spain": "Europe/Madrid",
    "the uk": "Europe/London",
    "uk": "Europe/London",
    "england": "Europe/London",
    "britain": "Europe/London",
    "scotland": "Europe/London",
    "ireland": "Europe/Dublin",
    "the netherlands": "Europe/Amsterdam",
    "netherlands": "Europe/Amsterdam",
    "holland": "Europe/Amsterdam",
    "switzerland": "Europe/Zurich",
    "sweden": "Europe/Stockholm",
    "norway": "Europe/Oslo",
    "poland": "Europe/Warsaw",
    "greece": "Europe/Athens",
    "turkey": "Europe/Istanbul",
    "egypt": "Africa/Cairo",
    "kenya": "Africa/Nairobi",
    "nigeria": "Africa/Lagos",
    "israel": "Asia/Jerusalem",
    "thailand": "Asia/Bangkok",
    "vietnam": "Asia/Ho_Chi_Minh",
    "new zealand": "Pacific/Auckland",
    "california": "America/Los_Angeles",
    "new york state": "America/New_York",
    "texas": "America/Chicago",
    "florida": "America/New_York",
    "hawaii": "Pacific/Honolulu",
    "utc": "UTC",
    "gmt": "Etc/GMT",
}


@cache
def _zone_cities() -> dict[str, str]:
    """``"new york" -> "America/New_York"`` for every zone named after a place."""
    cities: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if "/" not in zone or zone.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        city = zone.rsplit("/", 1)[-1].replace("_", " ").lower()
        cities.setdefault(city, zone)
    return cities


def time_zone_of(place: str) -> str | None:
    """The IANA time zone of ``place`` ("Tokyo" -> "Asia/Tokyo"), or ``None`` if unknown."""
    key = re.sub(r"[^a-z .'-]", "", place.lower()).strip(" .")
    key = re.sub(r"\s+", " ", key)
    if not key:
        return None
    return _ALIASES.get(key) or _zone_cities().get(key) or _zone_cities().get(key.replace("-", " "))
