"""The request register's vocabulary: kinds, statuses, due dates, references, fields."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from callrec.domain.history import Outcome
from callrec.errors import InputError

# Printable, no spaces or quotes: references end up in file names of exports and in logs.
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:#-]{0,63}$")
LANGUAGES = ("fi", "sv", "en")
# What a request's subject becomes once that subject was erased completely.
ERASED_SUBJECT = "erased"


class RequestKind(StrEnum):
    ACCESS = "access"                # art. 15
    RECTIFICATION = "rectification"  # art. 16
    ERASURE = "erasure"              # art. 17
    RESTRICTION = "restriction"      # art. 18
    PORTABILITY = "portability"      # art. 20
    OBJECTION = "objection"          # art. 21


class RequestStatus(StrEnum):
    OPEN = "open"          # received, not answered yet: its subject's calls are not purged
    CLOSED = "closed"      # answered: the action was taken
    REFUSED = "refused"    # answered with a written justification; nothing was changed


# Which requests an action may answer: an export answers art. 15 and art. 20 alike.
ACTION_KINDS: dict[str, frozenset[RequestKind]] = {
    "export": frozenset({RequestKind.ACCESS, RequestKind.PORTABILITY}),
    "rectify": frozenset({RequestKind.RECTIFICATION}),
    "erase": frozenset({RequestKind.ERASURE}),
    "restrict": frozenset({RequestKind.RESTRICTION}),
    "unrestrict": frozenset({RequestKind.RESTRICTION}),
    "object": frozenset({RequestKind.OBJECTION}),
}


@dataclass(frozen=True)
class RightsRequest:
    reference: str
    kind: RequestKind
    subject_number: str          # E.164; "erased" once its subject was erased completely
    received_at: datetime
    due_at: datetime
    status: RequestStatus
    handler: str | None
    outcome: str | None
    closed_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.status is RequestStatus.OPEN and self.due_at < now


@dataclass(frozen=True)
class Correction:
    id: int
    call_id: str
    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    request_reference: str
    corrected_at: datetime
    actor: str


@dataclass(frozen=True)
class Tombstone:
    request_reference: str | None
    calls_erased: int
    recordings_erased: int
    erased_at: datetime
    actor: str


def check_reference(text: str | None) -> str:
    """A request reference as typed by staff, e.g. "DPO-2026-0042"."""
    if text is None or not text.strip():
        raise InputError("a request reference is needed: --request REF (e.g. DPO-2026-0042)")
    if not _REFERENCE.match(text):
        raise InputError(f"request reference {text!r}: use 1-64 letters, digits and "
                         "'_./:#-', starting with a letter or digit")
    return text


def due_date(received_at: datetime, zone: ZoneInfo) -> datetime:
    """One calendar month after receipt (art. 12(3)), in the register's time zone.

    31 January is due on the last day of February: a month never ends in the next one.
    """
    local = received_at.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(year, month)[1])
    due = datetime(year, month, day, local.hour, local.minute, local.second,
                   local.microsecond, tzinfo=zone)
    return due.astimezone(UTC)


def rectified_value(field: str, value: str) -> str | None:
    """The value to store for ``field``: checked, and "" meaning "not known" where allowed."""
    checks = RECTIFIABLE.get(field)
    if checks is None:
        raise InputError(f"--field {field!r} cannot be rectified; fields that can: "
                         f"{', '.join(sorted(RECTIFIABLE))}")
    return checks(value)


def _nullable_text(value: str) -> str | None:
    if any(ord(char) < 32 for char in value):
        raise InputError("--value: control characters are not allowed")
    return value or None


def _outcome(value: str) -> str:
    if value not in {outcome.value for outcome in Outcome}:
        raise InputError(f"--value {value!r} is not an outcome: "
                         f"{', '.join(outcome.value for outcome in Outcome)}")
    return value


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise InputError(f"--value {value!r} is not a language: {', '.join(LANGUAGES)}")
    return value


# Fields of a call a person can say are wrong about them. Numbers, times and recording
# facts are what the exchange measured; correcting them would rewrite evidence.
RECTIFIABLE = {
    "caller_name": _nullable_text,
    "agent": _nullable_text,
    "outcome": _outcome,
    "language": _language,
}
# The column each rectifiable field is stored in.
FIELD_COLUMNS = {"caller_name": "caller_name_raw", "agent": "agent", "outcome": "outcome",
                 "language": "language"}
