"""The retention rules, free of SQL and I/O: when a record expires, what holds it back, and
which files in the recordings directory are whose.

Expiry is calendar arithmetic on the wall clock of the configured zone: a call started on
31 December 10:00 with "2 months" expires on 28 (or 29) February 10:00 local time, and
"90 days" means 90 calendar days later at the same local time, whatever DST did between.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from callrec.domain.services import Retention

# Month-end clamping moves an expiry at most 3 days earlier (31st -> 28th), a DST change
# at most an hour: 4 days more than the naive inverse is a safe bound for the SQL filter.
_SCAN_SLACK = timedelta(days=4)
RECORDING_NAME = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/([0-9a-f]{32})\.wav$")
FAILOPEN_NAME = re.compile(r"^failopen/[0-9A-Za-z._-]+\.wav$")


class HoldReason(StrEnum):
    RESTRICTED = "restricted"          # GDPR art. 18: processing restricted
    LEGAL_HOLD = "legal_hold"
    OPEN_REQUEST = "open_request"      # an open data-subject request for the caller
    CHANGED_DURING_RUN = "changed_during_run"  # a hold (or an erasure) arrived mid-run


class FileKind(StrEnum):
    RECORDING = "recording"   # YYYY/MM/DD/<call id>.wav: belongs to a calls row, or is orphan
    FAILOPEN = "failopen"     # failopen/<uniqueid>.wav: recorded while callrec was down
    OTHER = "other"           # anything else: not ours to judge, never deleted


@dataclass(frozen=True)
class FileName:
    kind: FileKind
    call_id: str | None = None


def expires_at(started_at: datetime, keep: Retention, zone: ZoneInfo) -> datetime | None:
    """The instant (UTC) a record started at ``started_at`` is due; None: kept forever."""
    if keep.forever:
        return None
    wall = started_at.astimezone(zone).replace(tzinfo=None)
    wall = add_months(wall, keep.months) + timedelta(days=keep.days)
    # A wall time that DST skipped or repeated resolves as zoneinfo does (fold=0).
    return wall.replace(tzinfo=zone).astimezone(UTC)


def is_expired(started_at: datetime, keep: Retention, zone: ZoneInfo, now: datetime) -> bool:
    due = expires_at(started_at, keep, zone)
    return due is not None and now >= due


def scan_cutoff(keep: Retention, zone: ZoneInfo, now: datetime) -> datetime | None:
    """An instant every expired record started before; None: nothing ever expires.

    Month-end clamping makes expiry non-monotonic in the start time (30 Dec 13:00 + 2
    months is later than 31 Dec 11:00 + 2 months), so there is no exact cut-off: storage
    selects rows started before this bound and :func:`is_expired` decides each one.
    """
    if keep.forever:
        return None
    wall = now.astimezone(zone).replace(tzinfo=None) - timedelta(days=keep.days)
    wall = add_months(wall, -keep.months) + _SCAN_SLACK
    return wall.replace(tzinfo=zone).astimezone(UTC)


def add_months(wall: datetime, months: int) -> datetime:
    """Same day and time ``months`` later (or earlier); clamped to the end of a short month."""
    year, month_index = divmod(wall.month - 1 + months, 12)
    year += wall.year
    month = month_index + 1
    day = min(wall.day, calendar.monthrange(year, month)[1])
    return wall.replace(year=year, month=month, day=day)


def hold_reasons(*, restricted: bool, legal_hold: bool,
                 open_request: bool) -> tuple[HoldReason, ...]:
    """Every reason that keeps a record; empty when none does."""
    flags = ((restricted, HoldReason.RESTRICTED), (legal_hold, HoldReason.LEGAL_HOLD),
             (open_request, HoldReason.OPEN_REQUEST))
    return tuple(reason for flag, reason in flags if flag)


def classify(relative_path: str) -> FileName:
    """What a path (relative to the recordings directory, '/'-separated) is."""
    match = RECORDING_NAME.match(relative_path)
    if match:
        return FileName(FileKind.RECORDING, match.group(4))
    if FAILOPEN_NAME.match(relative_path):
        return FileName(FileKind.FAILOPEN)
    return FileName(FileKind.OTHER)


def orphan_deletable(modified_at: datetime, grace: Retention, zone: ZoneInfo,
                     now: datetime) -> bool:
    """An orphan file is deleted once its grace period has passed since it was written."""
    return is_expired(modified_at, grace, zone, now)
