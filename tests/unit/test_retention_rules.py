from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callrec.domain.services import Retention
from callrec.retention.rules import (
    FileKind,
    HoldReason,
    add_months,
    classify,
    expires_at,
    hold_reasons,
    is_expired,
    scan_cutoff,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
TWO_MONTHS = Retention(months=2)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HELSINKI)


@pytest.mark.parametrize(("started", "keep", "due"), [
    # Written out by hand from a calendar, not computed with the code under test.
    ("2026-03-15T10:00", Retention(months=2), "2026-05-15T10:00"),
    ("2025-12-31T23:30", Retention(months=2), "2026-02-28T23:30"),
    ("2027-12-31T08:00", Retention(months=2), "2028-02-29T08:00"),
    ("2026-08-31T12:00", Retention(months=6), "2027-02-28T12:00"),
    ("2026-01-31T12:00", Retention(months=1), "2026-02-28T12:00"),
    ("2026-01-30T12:00", Retention(months=6), "2026-07-30T12:00"),
    ("2026-03-01T00:00", Retention(days=90), "2026-05-30T00:00"),
    ("2026-01-15T09:00", Retention(months=1, days=3), "2026-02-18T09:00"),
])
def test_expiry_is_calendar_arithmetic_on_the_local_wall_clock(started: str, keep: Retention,
                                                               due: str) -> None:
    assert expires_at(local(started).astimezone(UTC), keep, HELSINKI) == local(due)


def test_expiry_across_dst_keeps_the_wall_time_not_the_hour_count() -> None:
    # 15 March is EET (+02), 15 May EEST (+03): 10:00 local both times, 61 days minus 1 h.
    due = expires_at(local("2026-03-15T10:00"), TWO_MONTHS, HELSINKI)
    assert due == datetime(2026, 5, 15, 7, 0, tzinfo=UTC)


def test_one_second_either_side_of_expiry() -> None:
    started = local("2025-12-31T23:30")
    due = local("2026-02-28T23:30")
    assert not is_expired(started, TWO_MONTHS, HELSINKI, due - timedelta(seconds=1))
    assert is_expired(started, TWO_MONTHS, HELSINKI, due)
    assert is_expired(started, TWO_MONTHS, HELSINKI, due + timedelta(seconds=1))


def test_forever_never_expires() -> None:
    forever = Retention(forever=True)
    assert expires_at(local("2000-01-01T00:00"), forever, HELSINKI) is None
    assert not is_expired(local("2000-01-01T00:00"), forever, HELSINKI, local("2999-01-01T00:00"))
    assert scan_cutoff(forever, HELSINKI, local("2026-01-01T00:00")) is None


def test_the_zone_decides_the_calendar_day() -> None:
    # 22:30 UTC on 31 Jan is 1 Feb in Helsinki: one month later is 1 March there, but
    # 28 Feb in UTC.
    started = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    assert expires_at(started, Retention(months=1), HELSINKI) == local("2026-03-01T00:30")
    assert expires_at(started, Retention(months=1), ZoneInfo("UTC")) == \
        datetime(2026, 2, 28, 22, 30, tzinfo=UTC)


def test_add_months_backwards_and_over_years() -> None:
    assert add_months(datetime(2026, 3, 31), -1) == datetime(2026, 2, 28)
    assert add_months(datetime(2026, 1, 15), -2) == datetime(2025, 11, 15)
    assert add_months(datetime(2026, 11, 30), 14) == datetime(2028, 1, 30)


@pytest.mark.parametrize("keep", [Retention(months=2), Retention(months=6),
                                  Retention(days=90), Retention(months=1, days=1)])
def test_scan_cutoff_never_misses_an_expired_record(keep: Retention) -> None:
    """The SQL pre-filter must be a superset: every expired start lies before the cutoff."""
    rng = random.Random(20261124)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    checked = 0
    for _ in range(20_000):
        now = base + timedelta(seconds=rng.randrange(3 * 365 * 86400))
        # Starts bunched around the expiry boundary and near month ends, where clamping bites.
        typical = keep.months * 30.44 + keep.days
        started = now - timedelta(days=typical + rng.uniform(-8, 8))
        if rng.random() < 0.5:
            wall = started.astimezone(HELSINKI)
            started = wall.replace(day=28) + timedelta(days=rng.randrange(4),
                                                       hours=rng.randrange(24))
        if is_expired(started, keep, HELSINKI, now):
            checked += 1
            cutoff = scan_cutoff(keep, HELSINKI, now)
            assert cutoff is not None and started < cutoff, (started, now)
    assert checked > 5000  # the property was exercised, not vacuously true


def test_scan_cutoff_is_tight_enough_to_matter() -> None:
    now = local("2026-06-15T12:00")
    cutoff = scan_cutoff(TWO_MONTHS, HELSINKI, now)
    assert cutoff is not None
    assert local("2026-04-15T12:00") < cutoff <= local("2026-04-19T12:00")


def test_hold_reasons_lists_every_reason() -> None:
    assert hold_reasons(restricted=False, legal_hold=False, open_request=False) == ()
    assert hold_reasons(restricted=True, legal_hold=True, open_request=True) == (
        HoldReason.RESTRICTED, HoldReason.LEGAL_HOLD, HoldReason.OPEN_REQUEST)
    assert hold_reasons(restricted=False, legal_hold=False, open_request=True) == (
        HoldReason.OPEN_REQUEST,)


@pytest.mark.parametrize(("path", "kind"), [
    ("2026/11/24/0123456789abcdef0123456789abcdef.wav", FileKind.RECORDING),
    ("failopen/1764000000.123.wav", FileKind.FAILOPEN),
    ("2026/11/24/0123456789ABCDEF0123456789ABCDEF.wav", FileKind.OTHER),
    ("2026/11/24/0123456789abcdef0123456789abcdef.wav.tmp", FileKind.OTHER),
    ("2026/11/0123456789abcdef0123456789abcdef.wav", FileKind.OTHER),
    ("failopen/../../etc/passwd.wav", FileKind.OTHER),
    ("notes.txt", FileKind.OTHER),
])
def test_classify(path: str, kind: FileKind) -> None:
    assert classify(path).kind is kind


def test_classify_gives_the_call_id() -> None:
    name = classify("2026/11/24/0123456789abcdef0123456789abcdef.wav")
    assert name.call_id == "0123456789abcdef0123456789abcdef"
