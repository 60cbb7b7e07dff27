"""The redactor, both ways: personal data always goes, and nothing else is touched.

Issue 12, item 7: the user was told their damaged cache went to
``cache.damaged-[phone]``. Timestamps, paths, ids, version numbers, durations,
IP addresses and the numbers in tool results are not phone numbers. Each side
is tested on real-world strings and on strings hypothesis makes up.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice_agent_cli.observe.redaction import Redactor

REDACT = Redactor().redact


@pytest.mark.parametrize(
    "text",
    [
        # What va itself says.
        "reply cache at /root/.local/share/va/cache: open failed: file is not a database; "
        "moved it to /root/.local/share/va/cache.damaged-20261202-064641 and started a new cache",
        "session 1fd23dd5fb73 turn 9f86d081884c: llm_ttft=237.6 total=375.6",
        "2026-12-02 06:46:41,123 WARNING va.tools: circuit mcp:va: closed -> open",
        "2026-12-02T06:46:41.123456+00:00 started",
        "20261202T064641Z 20261202-064641 2026_12_02_06_46_41",
        "request 123e4567-e89b-12d3-a456-426614174000 failed after 94.213 s",
        "va 0.1.0, llama-cpp-python 0.3.36, mcp 2.3.0, Windows 10.0.19045.2965",
        "serving metrics on http://127.0.0.1:9464/metrics, redis at 10.20.30.40:6379",
        "loaded 494032768 bytes in 1.25 s; pid 1234567; port 8765",
        "unix time 1733120801 (1733120801.123)",
        # What tools and the LLM say.
        "1234 * 5678 = 7006652",
        "123456789 * 987654321 = 121932631112635269",
        "(12.5 * 3) / 4 = 9.375 and sqrt(2) ^ 3 = 2.8284271247461903",
        "the population is 8 336 817 (2026), up 1,234,567 from 7,102,250",
        "values: 1234 5678 9012 3456",
        "Note 12: buy milk (2026-12-02T06:46:41+01:00)",
        "It's 06:46:41 in Europe/Paris, Wednesday 2 December 2026.",
        "ISBN 978-0-306-40615-7, order #20261202-0042, invoice 2026-000123",
        "temperature 21.5 °C, 1013.25 hPa, 0.000123 mm",
        "$1,234,567.89 and €4 155 550 100",
        "file /var/log/2026/12/02/064641.log and C:\\Users\\jo\\2026-12-02\\0646.txt",
        "APIConnectionError: cannot reach the server",
        "+3.14159265 is not a phone number",
    ],
)
def test_what_is_not_personal_stays_as_it_is(text: str) -> None:
    assert REDACT(text) == text


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call me on +1 415 555 0100", "+1 415 555 0100"),
        ("call +1 (415) 555-0100 today", "(415) 555-0100"),
        ("ring +447911123456", "+447911123456"),
        ("UK office +44 20 7946 0958.", "+44 20 7946 0958"),
        ("mobile: +33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("my number is 06 12 34 56 78", "06 12 34 56 78"),
        ("(415) 555-0100", "(415) 555-0100"),
        ("415-555-0100", "415-555-0100"),
        ("415.555.0100!", "415.555.0100"),
        ("1-415-555-0100", "1-415-555-0100"),
        ("phone=415 555 0100", "415 555 0100"),
        ("020 7946 0958", "020 7946 0958"),
        ("Berlin 030 1234567", "030 1234567"),
        ("0171 234 5678, ask for Jo", "0171 234 5678"),
    ],
)
def test_phone_numbers_are_redacted(text: str, number: str) -> None:
    redacted = REDACT(text)
    assert number not in redacted
    assert "[phone]" in redacted


# -- the same, on made-up strings ---------------------------------------------------

moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1))
FORMATS = (
    "%Y%m%d-%H%M%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y%m%dT%H%M%SZ",
    "%H:%M:%S",
    "%d/%m/%Y %H:%M",
)


@given(moments, st.sampled_from(FORMATS), st.sampled_from(["", "/tmp/va/cache.damaged-", "at "]))
def test_timestamps_and_paths_with_them_are_kept(moment: datetime, fmt: str, prefix: str) -> None:
    text = prefix + moment.strftime(fmt)
    assert REDACT(text) == text


@given(st.uuids(), st.integers(0, 2**64), st.integers(0, 10**6), st.integers(0, 999))
def test_ids_versions_and_durations_are_kept(
    ident: uuid.UUID, big: int, ms: int, minor: int
) -> None:
    for text in (
        str(ident),
        ident.hex[:12],
        f"{big}",
        f"{big:,}",
        f"v{minor}.{ms}.{minor}",
        f"{ms / 7:.3f} ms",
        f"took {timedelta(milliseconds=ms)}",
        f"{minor}.{minor}.{minor}.{minor % 256}",
    ):
        assert REDACT(text) == text


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**6))
def test_arithmetic_results_are_kept(a: int, b: int) -> None:
    for text in (f"{a} * {b} = {a * b}", f"{a} / {b} = {a / b}", f"{a:,} + {b:,}"):
        assert REDACT(text) == text


area = st.integers(200, 999).map(str)
line = st.integers(0, 9999).map(lambda n: f"{n:04d}")
exchange = st.integers(200, 999).map(str)


@given(
    area,
    exchange,
    line,
    st.sampled_from(
        ["{a}-{e}-{l}", "({a}) {e}-{l}", "{a}.{e}.{l}", "+1 {a} {e} {l}", "+1{a}{e}{l}"]
    ),
)
def test_north_american_numbers_are_always_redacted(a: str, e: str, ln: str, shape: str) -> None:
    number = shape.format(a=a, e=e, l=ln)
    redacted = REDACT(f"please call {number} tomorrow")
    assert redacted == "please call [phone] tomorrow"


@given(st.lists(st.integers(10, 99).map(str), min_size=4, max_size=4), st.integers(1, 9))
def test_european_numbers_are_always_redacted(pairs: list[str], lead: int) -> None:
    national = f"0{lead} " + " ".join(pairs)
    international = f"+33 {lead} " + " ".join(pairs)
    for number in (national, international):
        assert REDACT(f"mon numéro: {number}.") == "mon numéro: [phone]."
