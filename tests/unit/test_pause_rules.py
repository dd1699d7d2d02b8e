"""Who may pause or resume which call: the one rule every entrance (feature code, web,
API, dialplan) goes through."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec.access.roles import Principal, Role
from callrec.domain.history import CallRecord, NewCall, Outcome
from callrec.pause.model import PausableCall, offset_ms
from callrec.pause.rules import Actor, ActorKind, PauseAction, may

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
CALL = PausableCall("c1", "1764.1", "servicedesk", "anna", T0, live=True, recorded=True)
PAUSE, RESUME = PauseAction.PAUSE, PauseAction.RESUME


def principal(role: Role, agent_name: str | None = None,
              queues: tuple[str, ...] = ()) -> Principal:
    return Principal(1, "user1", role, queues, agent_name)


@pytest.mark.parametrize(("actor", "pause", "resume"), [
    (Actor.agent("anna"), True, True),
    (Actor.agent("bob"), False, False),
    (Actor.of_principal(principal(Role.AGENT, "anna")), True, True),
    (Actor.of_principal(principal(Role.AGENT, None)), False, False),
    (Actor.of_principal(principal(Role.SUPERVISOR, queues=("servicedesk",))), False, True),
    (Actor.of_principal(principal(Role.SUPERVISOR, queues=("sales",))), False, False),
    # A supervisor's own agent name does not make them the call's agent for pausing.
    (Actor.of_principal(principal(Role.SUPERVISOR, "anna", ("sales",))), False, False),
    *[(Actor.of_principal(principal(role, "anna", ("servicedesk",))), False, False)
      for role in (Role.QUALITY, Role.MAINTAINER, Role.DPO, Role.ADMIN)],
    (Actor.dialplan(), True, True),
    (Actor.callrec(), False, True),
])
def test_who_may_pause_and_resume(actor: Actor, pause: bool, resume: bool) -> None:
    assert (may(actor, PAUSE, CALL), may(actor, RESUME, CALL)) == (pause, resume)


def test_principals_are_named_by_username_and_role() -> None:
    actor = Actor.of_principal(principal(Role.SUPERVISOR, queues=("a", "b")))
    assert (actor.name, actor.kind, actor.role, actor.queues) == (
        "user1", ActorKind.SUPERVISOR, "supervisor", ("a", "b"))


def test_an_unanswered_call_is_nobodys_to_pause() -> None:
    unanswered = dataclasses.replace(CALL, agent=None)
    assert not may(Actor.agent("anna"), PAUSE, unanswered)


@given(agent=st.text(max_size=8), call_agent=st.none() | st.text(max_size=8),
       queue=st.text(max_size=8), queues=st.lists(st.text(max_size=8), max_size=3))
def test_people_reach_only_their_own_calls(agent: str, call_agent: str | None, queue: str,
                                           queues: list[str]) -> None:
    call = dataclasses.replace(CALL, agent=call_agent, queue=queue)
    assert may(Actor.agent(agent), PAUSE, call) == (call_agent == agent)
    supervisor = Actor("sue", ActorKind.SUPERVISOR, queues=tuple(queues))
    assert not may(supervisor, PAUSE, call)
    assert may(supervisor, RESUME, call) == (queue in queues)


def record(**changes: object) -> CallRecord:
    new = NewCall("c1", "a", "1764.1", "1764.1", None, None, True, None, "020", "sd", True,
                  "servicedesk", "fi", T0)
    return dataclasses.replace(CallRecord.opened(new), **changes)  # type: ignore[arg-type]


def test_a_row_becomes_a_pausable_call() -> None:
    answered = record(agent="anna", recording_path="2026/12/04/c1.wav",
                      recording_started_at=T0)
    assert PausableCall.of_record(answered) == CALL
    assert not PausableCall.of_record(record(ended_at=T0, outcome=Outcome.ANSWERED)).live
    assert not PausableCall.of_record(record(recording_path="x.wav",
                                             recording_skipped_reason="objection")).recorded
    assert not PausableCall.of_record(record()).recorded


def test_offsets_count_from_the_recording_start() -> None:
    assert offset_ms(CALL, T0.replace(second=12, microsecond=345_600)) == 12_346
    assert offset_ms(CALL, T0.replace(year=2025)) == 0
    assert offset_ms(dataclasses.replace(CALL, recording_started_at=None), T0) == 0
