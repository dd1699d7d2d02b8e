"""Erasure (art. 17), all or nothing, and its refusal.

The protocol survives being killed at any point:

1. *Plan* (one transaction): the calls to erase and their recording paths are written as
   an erasure job, with the request and an audit entry. From here on the job, not the
   live history, says what this erasure covers.
2. *Delete the files*, each with its data key (with encryption on), a missing file or
   key counting as done, then make the deletions durable (fsync of the directories).
3. *Finish* (one transaction): delete the planned rows (their corrections go with them),
   replace the number in the subject's requests when the whole subject was erased, write
   the tombstone, drop the job, close the request, audit.

A run that finds the job of its request resumes at step 2; a run that finds the
request's tombstone has nothing left to do. So a killed erasure, run again, ends with
neither a row nor a file of the subject and exactly one tombstone. Until then the job
blocks exports of the number (some files may already be gone).

With encryption on, a whole-subject erasure destroys the subject's key (every recording
of theirs, and every copy of one in a backup, is then unreadable with the key store) once
the checks have passed and just before the job is stored (step 1). The key is shared by
the subject's calls: a call from the same number that ends after that moment is sealed
under a fresh key and survives the erasure, as it should (it is not in the plan). Done
in step 2, a re-run of a killed erasure would destroy such a fresh key again and take
that call's audio along; done before the job exists, only a first run reaches it. A
first run that dies between the key and the job has erased nothing yet but the
subject's audio; run again, it plans and erases as usual. An erasure of one call
destroys only that recording's data key: the subject's other recordings still need the
subject key. A refusal, a legal hold (the erasure is refused) and a restriction destroy
no key.
"""

from __future__ import annotations

from callrec.domain.history import CallRecord
from callrec.errors import InputError
from callrec.rights.model import (
    ERASED_SUBJECT,
    RequestKind,
    RequestStatus,
    Tombstone,
    check_reference,
)
from callrec.rights.ports import Entry, ErasureItem, ErasurePlan
from callrec.rights.service import RightsService


def erase(service: RightsService, number: str, reference: str | None,
          call_id: str | None = None) -> tuple[Tombstone, bool]:
    """Erase and return the tombstone, and False when an earlier run had finished it."""
    # Before the request's checks: a whole-subject erasure took the number out of it.
    done = service.store.tombstone(check_reference(reference))
    if done is not None:
        registered = service.store.request(check_reference(reference))
        if registered is not None and registered.subject_number not in (number,
                                                                        ERASED_SUBJECT):
            raise InputError(f"request {reference} is about another number")
        return done, False
    request, _ = service.request_for("erase", reference, number, RequestKind.ERASURE)
    plan = service.store.erasure_job(request.reference)
    if plan is None:
        plan = _plan(service, number, request.reference, call_id)
        if plan.call_id is None:
            # Before the job is stored: a re-run resumes the job and never comes here, so
            # it cannot destroy the fresh key of a call that ended since (docstring).
            service.archive.forget_subject(plan.subject_number)
        service.store.start_erasure(plan, Entry(
            "rights.erase.started", service.actor.name, plan.started_at, request,
            call_id=call_id, details={"calls": len(plan.items)}))
    elif (plan.subject_number, plan.call_id) != (number, call_id):
        raise InputError(f"erasure {plan.reference} was started for another number or "
                         "call: run it again exactly as it was started")
    for item in plan.items:
        if item.recording_path is not None:
            service.archive.delete(item.recording_path)
    service.archive.sync()
    now = service.clock()
    tombstone = Tombstone(plan.reference, len(plan.items),
                          sum(1 for item in plan.items if item.recording_live), now,
                          service.actor.name)
    outcome = (f"erased {tombstone.calls_erased} calls and "
               f"{tombstone.recordings_erased} recordings")
    answered = service.answered(request, RequestStatus.CLOSED, outcome, now)
    service.store.finish_erasure(plan, tombstone, Entry(
        "rights.erase", service.actor.name, now, answered, call_id=call_id, details={
            "calls": tombstone.calls_erased, "recordings": tombstone.recordings_erased}))
    return tombstone, True


def refuse(service: RightsService, number: str, reference: str | None,
           justification: str | None, call_id: str | None = None) -> int:
    """Record a refused erasure with its written justification; returns the calls kept."""
    if justification is None or not justification.strip():
        raise InputError("--refuse needs --justification TEXT: a refusal must be "
                         "justified in writing (art. 12(4))")
    request, _ = service.request_for("erase", reference, number, RequestKind.ERASURE)
    if service.store.tombstone(request.reference) is not None:
        raise InputError(f"request {request.reference} was already carried out")
    if service.store.erasure_job(request.reference) is not None:
        raise InputError(f"erasure {request.reference} is under way: finish it instead")
    kept = _in_scope(service, number, call_id)
    now = service.clock()
    refused = service.answered(request, RequestStatus.REFUSED, justification, now)
    service.store.commit(Entry("rights.erase.refused", service.actor.name, now, refused,
                               call_id=call_id, details={"calls_kept": len(kept)}))
    return len(kept)


def _plan(service: RightsService, number: str, reference: str,
          call_id: str | None) -> ErasurePlan:
    others = [ref for ref in service.store.unfinished_erasures(number) if ref != reference]
    if others:
        raise InputError(f"erasure {others[0]} of this number is unfinished: run it again "
                         "first")
    calls = _in_scope(service, number, call_id)
    busy = [call.id for call in calls if call.ended_at is None]
    if busy:
        raise InputError(f"call {busy[0]} is still in progress (its recording is being "
                         "written): erase after it ends")
    held = [call.id for call in calls if call.legal_hold]
    if held:
        raise InputError(f"call {held[0]} is under legal hold (art. 17(3)(e)): release the "
                         "hold or refuse with --refuse --justification")
    items = tuple(ErasureItem(call.id, call.recording_path,
                              call.recording_path is not None
                              and call.recording_deleted_at is None) for call in calls)
    return ErasurePlan(reference, number, call_id, service.clock(), service.actor.name, items)


def _in_scope(service: RightsService, number: str, call_id: str | None) -> list[CallRecord]:
    if call_id is None:
        return service.store.calls_of(number)
    call = service.store.call(call_id)
    if call is None:
        raise InputError(f"no call {call_id!r} in the contact history")
    if call.caller_number != number:
        raise InputError(f"call {call_id} is not from {number}")
    return [call]
