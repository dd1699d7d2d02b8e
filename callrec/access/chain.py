"""The access log's hash chain: every entry seals its own fields and the previous entry.

``hash = SHA-256(canonical JSON of [seq, at, username, role, call_id, action, purpose, note,
client, prev_hash])``. The first entry's ``prev_hash`` is :data:`GENESIS`. Changing any
field of any entry, deleting or reordering entries, or inserting one in the middle breaks
the chain from that entry on, and :func:`verify` names the first entry that no longer fits.

A chain cannot show that its newest entries were cut off: ``callrec audit verify`` prints
the head (last sequence number and hash) so that it can be noted somewhere else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

GENESIS = "0" * 64


class AccessAction(StrEnum):
    PLAY = "play"
    DOWNLOAD = "download"
    # Secure pause (callrec/pause): who stopped the recording of a call, and who (or the
    # maximum, or the hang-up) started it again.
    PAUSE = "pause"
    RESUME = "resume"
    AUTO_RESUME = "auto_resume"


@dataclass(frozen=True)
class AccessEvent:
    """One playback or download, as it is about to be served; or one pause or resume of a
    call's recording, as it is about to be done."""

    at: datetime
    username: str
    role: str
    call_id: str
    action: str          # an AccessAction; plain text as read back, so tampering hashes as is
    purpose: str
    note: str | None
    client: str


@dataclass(frozen=True)
class ChainedEntry:
    seq: int
    event: AccessEvent
    prev_hash: str
    hash: str


def seal(seq: int, event: AccessEvent, prev_hash: str) -> ChainedEntry:
    return ChainedEntry(seq, event, prev_hash, entry_hash(seq, event, prev_hash))


def entry_hash(seq: int, event: AccessEvent, prev_hash: str) -> str:
    fields = [seq, event.at.astimezone(UTC).isoformat(timespec="microseconds"),
              event.username, event.role, event.call_id, str(event.action), event.purpose,
              event.note, event.client, prev_hash]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None     # sequence number of the first entry that does not fit
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(entries: Iterable[ChainedEntry]) -> ChainReport:
    """Check entries given in ascending ``seq`` order, stopping at the first break."""
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for entry in entries:
        problem = _problem(entry, expected_seq, prev_hash)
        if problem is not None:
            return ChainReport(count, expected_seq - 1, prev_hash, entry.seq, problem)
        expected_seq, prev_hash, count = entry.seq + 1, entry.hash, count + 1
    return ChainReport(count, expected_seq - 1, prev_hash)


def _problem(entry: ChainedEntry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq != expected_seq:
        return f"expected entry {expected_seq} here, found {entry.seq} (entries missing)"
    if entry.prev_hash != prev_hash:
        return "does not point at the entry before it (an entry was replaced or removed)"
    if entry.hash != entry_hash(entry.seq, entry.event, entry.prev_hash):
        return "its contents do not match its hash (the entry was altered)"
    return None
