"""What the rights module needs from storage and from the recordings directory.

Every change goes through :meth:`RightsStore.commit` together with its request-register
entry and its audit entry, in one transaction: a request is never answered without its
change, nor changed without being audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from callrec.domain.history import CallRecord
from callrec.rights.model import Correction, RightsRequest, Tombstone


@dataclass(frozen=True)
class Entry:
    """One audited action; ``request`` is that request's state after it (inserted if new)."""

    action: str
    actor: str
    at: datetime
    request: RightsRequest | None
    call_id: str | None = None
    # Counts and ids only: the audit log outlives erasures, so never a number or a name.
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rectify:
    call_id: str
    field: str           # as the DPO names it, e.g. caller_name
    column: str          # where it is stored, e.g. caller_name_raw
    new_value: str | None
    reason: str


@dataclass(frozen=True)
class Restrict:
    number: str
    lift: bool = False   # True: unrestrict


@dataclass(frozen=True)
class Object:
    number: str


Change = Rectify | Restrict | Object


@dataclass(frozen=True)
class ErasureItem:
    call_id: str
    recording_path: str | None
    recording_live: bool


@dataclass(frozen=True)
class ErasurePlan:
    reference: str
    subject_number: str
    call_id: str | None          # None: every call of the subject
    started_at: datetime
    actor: str
    items: tuple[ErasureItem, ...]


class RightsStore(Protocol):
    def calls_of(self, number: str) -> list[CallRecord]:
        """Every call from this E.164 number, oldest first."""

    def call(self, call_id: str) -> CallRecord | None: ...

    def corrections(self, call_ids: Sequence[str]) -> list[Correction]: ...

    def request(self, reference: str) -> RightsRequest | None: ...

    def requests(self) -> list[RightsRequest]:
        """The register, by due date."""

    def has_objected(self, e164: str) -> bool: ...

    def tombstone(self, reference: str) -> Tombstone | None: ...

    def commit(self, entry: Entry, change: Change | None = None) -> int:
        """Apply ``change`` (if any), save the request, audit; returns rows changed."""

    def erasure_job(self, reference: str) -> ErasurePlan | None: ...

    def unfinished_erasures(self, number: str) -> list[str]:
        """References of erasure jobs of this number that have not finished."""

    def start_erasure(self, plan: ErasurePlan, entry: Entry) -> None: ...

    def finish_erasure(self, plan: ErasurePlan, tombstone: Tombstone, entry: Entry) -> None:
        """Delete the planned rows, write the tombstone, drop the job: one transaction."""


class RecordingArchive(Protocol):
    def path(self, relative: str) -> Path:
        """The file for a stored relative path (refuses paths leaving the directory)."""

    def delete(self, relative: str) -> bool:
        """Remove the file; False if it was not there."""

    def sync(self) -> None:
        """Make the deletions so far durable before the database says they happened."""
