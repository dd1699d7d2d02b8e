"""In-memory adapters of the rights ports, for driving RightsService without a database
or a file system: recordings as bytes by relative path, a bundle as bytes by name."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from callrec.domain.history import CallRecord
from callrec.errors import RecordingError
from callrec.pause.model import Pause
from callrec.rights.model import Correction, RightsRequest, Tombstone
from callrec.rights.ports import (
    Change,
    Entry,
    ErasurePlan,
    RecordingContent,
    RecordingCopy,
    RecordingReader,
)


class MemoryArchive:
    """A RecordingArchive holding each recording's bytes under its relative path."""

    def __init__(self, recordings: Mapping[str, bytes]) -> None:
        self.recordings = dict(recordings)
        self.synced = False
        self.forgotten_subjects: list[str] = []

    def content(self, relative: str) -> RecordingContent | None:
        data = self.recordings.get(relative)
        if data is None:
            return None
        return RecordingContent(len(data), hashlib.sha256(data).hexdigest())

    def open(self, relative: str) -> BinaryIO:
        if relative not in self.recordings:
            raise RecordingError(f"recording {relative} is missing")
        return io.BytesIO(self.recordings[relative])

    def delete(self, relative: str) -> bool:
        return self.recordings.pop(relative, None) is not None

    def sync(self) -> None:
        self.synced = True

    def forget_subject(self, subject: str) -> None:
        self.forgotten_subjects.append(subject)


class MemoryBundle:
    """An ExportWriter keeping what it was given to write, by name in the bundle."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] | None = None

    def write(self, texts: Mapping[str, bytes], recordings: Mapping[str, RecordingCopy],
              reader: RecordingReader) -> None:
        files = dict(texts)
        for name, copy in recordings.items():
            with reader.open(copy.relative) as stream:
                files[name] = stream.read()
            if hashlib.sha256(files[name]).hexdigest() != copy.sha256:
                raise RecordingError(f"recording {copy.relative} changed while exported")
        self.files = files


class MemoryRights:
    """A RightsStore over a list of calls, for the actions that only read them (find,
    export, the register); changes and erasures are tested on the SQL store."""

    def __init__(self, calls: Sequence[CallRecord]) -> None:
        self.calls = list(calls)
        self.registered: dict[str, RightsRequest] = {}
        self.paused: dict[str, list[Pause]] = {}
        self.entries: list[Entry] = []
        self.objected: set[str] = set()

    def calls_of(self, number: str) -> list[CallRecord]:
        return sorted((call for call in self.calls if call.caller_number == number),
                      key=lambda call: (call.started_at, call.id))

    def call(self, call_id: str) -> CallRecord | None:
        return next((call for call in self.calls if call.id == call_id), None)

    def corrections(self, call_ids: Sequence[str]) -> list[Correction]:
        return []

    def pauses(self, call_ids: Sequence[str]) -> dict[str, list[Pause]]:
        return {call_id: self.paused[call_id] for call_id in call_ids if call_id in self.paused}

    def request(self, reference: str) -> RightsRequest | None:
        return self.registered.get(reference)

    def requests(self) -> list[RightsRequest]:
        return sorted(self.registered.values(), key=lambda request: request.due_at)

    def has_objected(self, e164: str) -> bool:
        return e164 in self.objected

    def tombstone(self, reference: str) -> Tombstone | None:
        return None

    def commit(self, entry: Entry, change: Change | None = None) -> int:
        if entry.request is not None:
            self.registered[entry.request.reference] = entry.request
        self.entries.append(entry)
        if change is not None:
            raise NotImplementedError("changes to calls are tested on the SQL store")
        return 0

    def erasure_job(self, reference: str) -> ErasurePlan | None:
        return None

    def unfinished_erasures(self, number: str) -> list[str]:
        return []

    def start_erasure(self, plan: ErasurePlan, entry: Entry) -> None:
        raise NotImplementedError("erasure is tested on the SQL store")

    def finish_erasure(self, plan: ErasurePlan, tombstone: Tombstone, entry: Entry) -> None:
        raise NotImplementedError("erasure is tested on the SQL store")
