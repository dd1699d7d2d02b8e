"""The DPO's actions on the register; each answers a request and leaves an audit entry.

Every action names the request it answers (``--request REF``). A reference not in the
register yet is registered on the spot, received now; an existing one must be of a kind
the action answers and about the same number. Checks come first, then one transaction:
a refused input changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callrec.domain.history import CallRecord
from callrec.errors import AccessDenied, InputError
from callrec.rights import export as contents
from callrec.rights.model import (
    ACTION_KINDS,
    FIELD_COLUMNS,
    Correction,
    RequestKind,
    RequestStatus,
    RightsRequest,
    check_reference,
    due_date,
    rectified_value,
)
from callrec.rights.ports import (
    Change,
    Entry,
    ExportWriter,
    Object,
    RecordingArchive,
    RecordingCopy,
    Rectify,
    Restrict,
    RightsStore,
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Findings:
    number: str
    calls: list[CallRecord]
    corrections: list[Correction]
    objected: bool
    requests: list[RightsRequest]


@dataclass(frozen=True)
class ExportResult:
    calls: int
    recordings: int
    missing: list[str]          # call ids whose recording should exist but has no file
    checksum_mismatches: list[str]  # call ids whose file differs from the stored SHA-256


@dataclass
class _Recordings:
    """What an export found of its calls' recordings."""

    bundled: dict[str, contents.BundledRecording] = field(default_factory=dict)  # by call id
    copies: dict[str, RecordingCopy] = field(default_factory=dict)  # by name in the bundle
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Actor:
    """Who acts, and whether they are a data-protection officer."""

    name: str
    officers: tuple[str, ...] = ()

    @property
    def is_officer(self) -> bool:
        # current_actor() may say "alice (systemd)": the login is the first word.
        return self.name.split(" ", 1)[0] in self.officers


class RightsService:
    def __init__(self, store: RightsStore, archive: RecordingArchive, actor: Actor,
                 zone: ZoneInfo, clock: Clock = utc_now) -> None:
        self.store = store
        self.archive = archive
        self.actor = actor
        self.zone = zone
        self.clock = clock

    # --- the register -------------------------------------------------------------------

    def receive(self, reference: str | None, kind: RequestKind, number: str,
                received_at: datetime | None = None) -> RightsRequest:
        """Register a request as it arrives (its due date runs from ``received_at``)."""
        reference = check_reference(reference)
        if self.store.request(reference) is not None:
            raise InputError(f"request {reference} is already in the register")
        now = self.clock()
        if received_at is not None and received_at > now:
            raise InputError("--received is in the future")
        request = self._new_request(reference, kind, number, received_at or now)
        self.store.commit(Entry("rights.request.received", self.actor.name, now, request,
                                details={"kind": kind.value}))
        return request

    def close(self, reference: str | None, outcome: str, refused: bool = False
              ) -> RightsRequest:
        """Answer a request no other action answers (e.g. withdrawn, nothing found)."""
        request = self._existing(check_reference(reference))
        if not outcome.strip():
            raise InputError("--outcome: say how the request was answered")
        status = RequestStatus.REFUSED if refused else RequestStatus.CLOSED
        closed = self.answered(request, status, outcome, self.clock())
        self.store.commit(Entry("rights.request.closed", self.actor.name, self.clock(),
                                closed, details={"status": status.value}))
        return closed

    def requests(self, overdue_only: bool = False) -> list[RightsRequest]:
        now = self.clock()
        return [r for r in self.store.requests() if not overdue_only or r.overdue(now)]

    # --- art. 15 and 20 -----------------------------------------------------------------

    def find(self, number: str, reference: str | None = None) -> Findings:
        calls = self.store.calls_of(number)
        found = Findings(
            number=number, calls=calls,
            corrections=self.store.corrections([call.id for call in calls]),
            objected=self.store.has_objected(number),
            requests=[r for r in self.store.requests() if r.subject_number == number])
        ref = None if reference is None else check_reference(reference)
        self.store.commit(Entry("rights.find", self.actor.name, self.clock(), None,
                                details={"calls": len(calls), "request": ref}))
        return found

    def export(self, number: str, reference: str | None, bundle: ExportWriter,
               kind: RequestKind = RequestKind.ACCESS) -> ExportResult:
        request, is_new = self.request_for("export", reference, number, kind)
        if self.store.unfinished_erasures(number):
            raise InputError("an erasure of this number is unfinished: finish it first "
                             "(run the same `callrec rights erase` again)")
        calls = self.store.calls_of(number)
        restricted = sum(1 for call in calls if call.restricted_at is not None)
        if restricted and not self.actor.is_officer:
            raise AccessDenied(f"{restricted} of these calls are restricted (art. 18): only "
                               "a data-protection officer (config rights.officers) may "
                               "export them")
        found = self._recordings(calls)
        ids = [call.id for call in calls]
        document = contents.manifest(request, calls, self.store.corrections(ids),
                                     found.bundled, self.store.has_objected(number),
                                     self.store.pauses(ids))
        texts = {contents.MANIFEST: contents.manifest_bytes(document),
                 contents.SUMMARY: contents.summary(document, self.zone)}
        bundle.write(texts, found.copies, self.archive)
        now = self.clock()
        outcome = f"exported {len(calls)} calls, {len(found.bundled)} recordings"
        answered = self.answered(request, RequestStatus.CLOSED, outcome, now, keep=not is_new)
        self.store.commit(Entry("rights.export", self.actor.name, now, answered, details={
            "calls": len(calls), "recordings": len(found.bundled), "restricted": restricted,
            "missing": len(found.missing)}))
        return ExportResult(len(calls), len(found.bundled), found.missing, found.mismatched)

    def _recordings(self, calls: list[CallRecord]) -> _Recordings:
        """Every live recording goes in as it is stored now, even one whose SHA-256 differs
        from the one taken at hangup: the person gets what is kept, the DPO a warning."""
        found = _Recordings()
        for call in calls:
            if call.recording_path is None or call.recording_deleted_at is not None:
                continue
            stored = self.archive.content(call.recording_path)
            if stored is None:
                found.missing.append(call.id)
                continue
            name = contents.recording_name(call)
            found.bundled[call.id] = contents.BundledRecording(name, stored.bytes,
                                                               stored.sha256)
            found.copies[name] = RecordingCopy(call.recording_path, stored.bytes,
                                               stored.sha256)
            if call.recording_sha256 is not None and call.recording_sha256 != stored.sha256:
                found.mismatched.append(call.id)
        return found

    # --- art. 16, 18, 21 ----------------------------------------------------------------

    def rectify(self, call_id: str, field: str, value: str, reason: str,
                reference: str | None) -> Correction:
        call = self.store.call(call_id)
        if call is None:
            raise InputError(f"no call {call_id!r} in the contact history")
        if call.caller_number is None:
            raise InputError(f"call {call_id} has no caller number, so no data subject "
                             "to answer: rectify it by hand and document why")
        new_value = rectified_value(field, value)
        if not reason.strip():
            raise InputError("--reason: say why the value is wrong")
        request, _ = self.request_for("rectify", reference, call.caller_number,
                                       RequestKind.RECTIFICATION)
        now = self.clock()
        answered = self.answered(request, RequestStatus.CLOSED, f"rectified {field} of "
                                  f"call {call_id}", now)
        self.store.commit(Entry("rights.rectify", self.actor.name, now, answered,
                                call_id=call_id, details={"field": field}),
                          Rectify(call_id, field, FIELD_COLUMNS[field], new_value, reason))
        old = getattr(call, FIELD_COLUMNS[field])
        return Correction(0, call_id, field, None if old is None else str(old), new_value,
                          reason, request.reference, now, self.actor.name)

    def restrict(self, number: str, reference: str | None, lift: bool = False) -> int:
        action = "unrestrict" if lift else "restrict"
        request, _ = self.request_for(action, reference, number, RequestKind.RESTRICTION)
        now = self.clock()
        verb = "lifted the restriction of" if lift else "restricted"
        answered = self.answered(request, RequestStatus.CLOSED, f"{verb} the calls", now)
        return self.store.commit(Entry(f"rights.{action}", self.actor.name, now, answered),
                                 Restrict(number, lift))

    def object(self, number: str, reference: str | None) -> bool:
        """Record the objection; False if this number had objected already."""
        request, _ = self.request_for("object", reference, number, RequestKind.OBJECTION)
        now = self.clock()
        answered = self.answered(request, RequestStatus.CLOSED, "objection recorded: "
                                  "excluded from sampling, training and analytics", now)
        change: Change = Object(number)
        return self.store.commit(Entry("rights.object", self.actor.name, now, answered),
                                 change) > 0

    # --- requests -----------------------------------------------------------------------

    def request_for(self, action: str, reference: str | None, number: str,
                     kind: RequestKind) -> tuple[RightsRequest, bool]:
        """The request an action answers: the registered one, or a new one received now."""
        reference = check_reference(reference)
        request = self.store.request(reference)
        if request is None:
            return self._new_request(reference, kind, number, self.clock()), True
        if request.kind not in ACTION_KINDS[action]:
            raise InputError(f"request {reference} is a {request.kind.value} request; "
                             f"`{action}` answers {_kinds(action)} requests")
        if request.subject_number != number:
            raise InputError(f"request {reference} is about another number")
        if request.status is RequestStatus.REFUSED:
            raise InputError(f"request {reference} was refused: register a new request")
        return request, False

    def _new_request(self, reference: str, kind: RequestKind, number: str,
                     received_at: datetime) -> RightsRequest:
        if received_at.tzinfo is None:
            raise InputError("the received time needs a time zone")
        return RightsRequest(reference, kind, number, received_at.astimezone(UTC),
                             due_date(received_at, self.zone), RequestStatus.OPEN,
                             self.actor.name, None, None)

    def _existing(self, reference: str) -> RightsRequest:
        request = self.store.request(reference)
        if request is None:
            raise InputError(f"no request {reference} in the register")
        return request

    def answered(self, request: RightsRequest, status: RequestStatus, outcome: str,
                  now: datetime, keep: bool = False) -> RightsRequest:
        """The request closed now; ``keep``: a repeat answer keeps the first closing time."""
        closed_at = request.closed_at if keep and request.closed_at else now
        return replace(request, status=status, outcome=outcome, handler=self.actor.name,
                       closed_at=closed_at)


def _kinds(action: str) -> str:
    return " or ".join(sorted(kind.value for kind in ACTION_KINDS[action]))
