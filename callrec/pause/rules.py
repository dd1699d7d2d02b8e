"""Who may pause or resume which call: one pure rule, shared by every way in (feature
code, dialplan, web, API), so no entrance can be more permissive than another.

=========== ======================================================================
agent       pause and resume the call they answered (``call.agent`` == agent name)
supervisor  resume (never pause) a call of one of their queues
dialplan    pause and resume any recorded call (the automatic hook)
callrec     resume any call (a pause that outlived its maximum, or its call)
anyone else neither
=========== ======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from callrec.access.roles import Principal, Role
from callrec.pause.model import CALLREC_ACTOR, DIALPLAN_ACTOR, PausableCall


class PauseAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"


class ActorKind(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    DIALPLAN = "dialplan"
    CALLREC = "callrec"
    OTHER = "other"        # a web user of any other role: may do neither


@dataclass(frozen=True)
class Actor:
    """Who asks: named in the pause record and in the access log."""

    name: str                          # agent name, username, "dialplan" or "callrec"
    kind: ActorKind
    agent_name: str | None = None
    queues: tuple[str, ...] = ()
    role: str = ""                     # as the access log names it

    @classmethod
    def of_principal(cls, principal: Principal) -> Actor:
        kinds = {Role.AGENT: ActorKind.AGENT, Role.SUPERVISOR: ActorKind.SUPERVISOR}
        return cls(principal.username, kinds.get(principal.role, ActorKind.OTHER),
                   principal.agent_name, principal.queues, principal.role.value)

    @classmethod
    def agent(cls, agent_name: str) -> Actor:
        """The agent on the line, as the feature code names them."""
        return cls(agent_name, ActorKind.AGENT, agent_name, (), Role.AGENT.value)

    @classmethod
    def dialplan(cls) -> Actor:
        return cls(DIALPLAN_ACTOR, ActorKind.DIALPLAN, role=DIALPLAN_ACTOR)

    @classmethod
    def callrec(cls) -> Actor:
        return cls(CALLREC_ACTOR, ActorKind.CALLREC, role=CALLREC_ACTOR)


def may(actor: Actor, action: PauseAction, call: PausableCall) -> bool:
    """Whether ``actor`` may ``action`` the recording of ``call``."""
    if actor.kind is ActorKind.AGENT:
        return actor.agent_name is not None and call.agent == actor.agent_name
    if actor.kind is ActorKind.SUPERVISOR:
        return action is PauseAction.RESUME and call.queue in actor.queues
    if actor.kind is ActorKind.DIALPLAN:
        return True
    if actor.kind is ActorKind.CALLREC:
        return action is PauseAction.RESUME
    return False
