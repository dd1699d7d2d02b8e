from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from callrec.errors import InputError
from callrec.rights.model import (
    RequestKind,
    RequestStatus,
    RightsRequest,
    check_reference,
    due_date,
    rectified_value,
)
from callrec.rights.service import Actor

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI)


@pytest.mark.parametrize(("received", "due"), [
    (local(2026, 1, 15, 9, 30), local(2026, 2, 15, 9, 30)),
    (local(2026, 1, 31, 9, 30), local(2026, 2, 28, 9, 30)),
    (local(2028, 1, 31, 9, 30), local(2028, 2, 29, 9, 30)),
    (local(2026, 12, 31, 23, 59), local(2027, 1, 31, 23, 59)),
    (local(2026, 3, 31, 0, 0), local(2026, 4, 30, 0, 0)),
    # Across the change to summer time: the same wall-clock time, an hour less in UTC.
    (local(2026, 3, 10, 12, 0), local(2026, 4, 10, 12, 0)),
])
def test_due_date_is_one_calendar_month_later(received: datetime, due: datetime) -> None:
    assert due_date(received, HELSINKI) == due.astimezone(UTC)
    assert due_date(received.astimezone(UTC), HELSINKI).tzinfo == UTC


def test_overdue_only_while_open() -> None:
    received = datetime(2026, 1, 1, tzinfo=UTC)
    request = RightsRequest("R", RequestKind.ACCESS, "+358401234567", received,
                            due_date(received, HELSINKI), RequestStatus.OPEN, None, None, None)
    assert not request.overdue(datetime(2026, 1, 31, tzinfo=UTC))
    assert request.overdue(datetime(2026, 2, 2, tzinfo=UTC))
    closed = RightsRequest(**{**request.__dict__, "status": RequestStatus.CLOSED})
    assert not closed.overdue(datetime(2026, 2, 2, tzinfo=UTC))


@pytest.mark.parametrize("text", ["DPO-2026-0042", "a", "kirje/2026:17#3", "X" * 64])
def test_good_references(text: str) -> None:
    assert check_reference(text) == text


@pytest.mark.parametrize("text", [None, "", "   ", "has space", "-leading", "X" * 65,
                                  "semi;colon", "new\nline", "ä-2026"])
def test_bad_references(text: str | None) -> None:
    with pytest.raises(InputError, match="request reference"):
        check_reference(text)


@pytest.mark.parametrize(("field", "value", "stored"), [
    ("caller_name", "Maija Meikäläinen", "Maija Meikäläinen"),
    ("caller_name", "", None),
    ("agent", "Bea", "Bea"),
    ("outcome", "abandoned", "abandoned"),
    ("language", "sv", "sv"),
])
def test_rectified_values(field: str, value: str, stored: str | None) -> None:
    assert rectified_value(field, value) == stored


@pytest.mark.parametrize(("field", "value", "named"), [
    ("caller_number", "+358401234567", "caller_number"),
    ("recording_sha256", "0" * 64, "recording_sha256"),
    ("outcome", "exploded", "exploded"),
    ("language", "de", "de"),
    ("caller_name", "evil\x1b[2J", "control"),
])
def test_rectification_refused(field: str, value: str, named: str) -> None:
    with pytest.raises(InputError, match=named):
        rectified_value(field, value)


@pytest.mark.parametrize(("actor", "officer"), [
    ("dpo", True), ("dpo (systemd)", True), ("alice", False), ("dpox", False),
    ("uid 1000", False),
])
def test_officers_are_matched_by_login(actor: str, officer: bool) -> None:
    assert Actor(actor, ("dpo", "bob")).is_officer is officer
    assert Actor(actor).is_officer is False
