"""What the rights module needs from storage, from wherever recordings are kept, and from
wherever an export bundle goes.

Every change goes through :meth:`RightsStore.commit` together with its request-register
entry and its audit entry, in one transaction: a request is never answered without its
change, nor changed without being audited.

Recordings are reached by their stored relative path and read as streams, never as local
files: :mod:`callrec.rights.files` keeps them on the local disk, and an object store can
implement the same ports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol

from callrec.domain.history import CallRecord
from callrec.pause.model import Pause
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

    def pauses(self, call_ids: Sequence[str]) -> dict[str, list[Pause]]:
        """The recording pauses of these calls, oldest first; calls without are absent."""

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


@dataclass(frozen=True)
class RecordingContent:
    """A recording as stored now, read all the way through."""

    bytes: int
    sha256: str


class RecordingReader(Protocol):
    # content() is the adapter's, not open() plus hashing in the service: an adapter can
    # answer it however its store reads best (an object store by one streamed GET).
    def content(self, relative: str) -> RecordingContent | None:
        """Size and SHA-256 of the stored recording; None when there is none.

        Raises RecordingError for a path leaving the store, or one that cannot be read.
        """

    def open(self, relative: str) -> BinaryIO:
        """The recording's bytes as a stream, to read in chunks and close.

        Raises RecordingError when it cannot be read, a missing recording included.
        """


class RecordingArchive(RecordingReader, Protocol):
    def delete(self, relative: str) -> bool:
        """Remove the recording; False if it was not there."""

    def sync(self) -> None:
        """Make the deletions so far durable before the database says they happened."""

    def forget_subject(self, subject: str) -> None:
        """Destroy the data subject's key (with encryption on), so that no copy of their
        recordings, in a backup either, can be opened with the key store from now on;
        idempotent. :meth:`delete` destroys the one recording's data key."""


@dataclass(frozen=True)
class RecordingCopy:
    """A recording to copy into a bundle, and what it was when the manifest was made."""

    relative: str       # where the reader finds it
    bytes: int
    sha256: str


class ExportWriter(Protocol):
    """One export bundle's destination."""

    def write(self, texts: Mapping[str, bytes], recordings: Mapping[str, RecordingCopy],
              reader: RecordingReader) -> None:
        """Write the bundle: ``texts`` and ``recordings`` under their names in it.

        All or nothing: the bundle appears complete or not at all. Raises RecordingError
        when a recording no longer is what its RecordingCopy says (the manifest would lie),
        InputError when the destination cannot be used.
        """
