"""Roles and what each may see, as the privacy notices promise it.

=========== ============================================================================
agent       calls they answered (``calls.agent`` equals their agent name)
supervisor  calls of their queues
quality     all calls, except restricted ones and those of callers who objected
maintainer  all calls except restricted ones; a purpose and a note every time
dpo         everything, restricted calls included
admin       user accounts only: no calls, no recordings
=========== ============================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from callrec.domain.history import CallRecord
from callrec.errors import InputError

# Queue names are the ones config.py accepts; agent names are queue member names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,63}$")
_AGENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@ +-]{0,63}$")

ObjectionCheck = Callable[[str], bool]
"""Whether an E.164 number objected (GDPR art. 21) to the processing of its calls."""


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    QUALITY = "quality"
    MAINTAINER = "maintainer"
    DPO = "dpo"
    ADMIN = "admin"


class Purpose(StrEnum):
    QUALITY = "quality"
    TRAINING = "training"
    COMPLAINT = "complaint"
    TECHNICAL = "technical"


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the web service sees them for one request."""

    user_id: int
    username: str
    role: Role
    queues: tuple[str, ...] = ()
    agent_name: str | None = None

    @property
    def hears_recordings(self) -> bool:
        return self.role is not Role.ADMIN

    @property
    def sees_access_log(self) -> bool:
        return self.role is Role.DPO

    @property
    def manages_users(self) -> bool:
        return self.role in (Role.ADMIN, Role.DPO)

    @property
    def note_required(self) -> bool:
        """Maintainers reach recordings only when needed, and must say why each time."""
        return self.role is Role.MAINTAINER


@dataclass(frozen=True)
class Account:
    """A user as stored (without the password hash)."""

    id: int
    username: str
    role: Role
    queues: tuple[str, ...]
    agent_name: str | None
    disabled: bool
    has_password: bool
    created_at: datetime
    reviewed_at: datetime

    def principal(self) -> Principal:
        return Principal(self.id, self.username, self.role, self.queues, self.agent_name)


@dataclass(frozen=True)
class CallScope:
    """The calls one principal may see, as a filter storage can turn into SQL.

    ``agents``/``queues`` of None mean "any"; an empty tuple means "none at all".
    """

    agents: tuple[str, ...] | None = None
    queues: tuple[str, ...] | None = None
    include_restricted: bool = False
    exclude_objected: bool = False


NOTHING = CallScope(agents=(), queues=())


def scope_for(principal: Principal) -> CallScope:
    role = principal.role
    if role is Role.AGENT:
        agents = (principal.agent_name,) if principal.agent_name else ()
        return CallScope(agents=agents)
    if role is Role.SUPERVISOR:
        return CallScope(queues=principal.queues)
    if role is Role.QUALITY:
        return CallScope(exclude_objected=True)
    if role is Role.MAINTAINER:
        return CallScope()
    if role is Role.DPO:
        return CallScope(include_restricted=True)
    return NOTHING


def in_scope(scope: CallScope, call: CallRecord, has_objected: ObjectionCheck) -> bool:
    """The same rule storage applies in SQL, for a single row already in hand."""
    if scope.agents is not None and call.agent not in scope.agents:
        return False
    if scope.queues is not None and call.queue not in scope.queues:
        return False
    if call.restricted_at is not None and not scope.include_restricted:
        return False
    return not (scope.exclude_objected and call.caller_number is not None
                and has_objected(call.caller_number))


@dataclass(frozen=True)
class CallFilters:
    """A search as asked for; every field already validated."""

    number: str | None = None       # E.164
    service: str | None = None
    queue: str | None = None
    agent: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InputError(f"{text!r} is not a role: use one of "
                         f"{', '.join(role.value for role in Role)}") from None


def parse_purpose(text: str) -> Purpose:
    try:
        return Purpose(text)
    except ValueError:
        raise InputError(f"{text!r} is not a purpose: use one of "
                         f"{', '.join(purpose.value for purpose in Purpose)}") from None


def check_username(text: str) -> str:
    if not _USERNAME.match(text):
        raise InputError(f"{text!r} is not a user name: 2-64 lower-case letters, digits, "
                         "'_', '.', '@' or '-', starting with a letter or digit")
    return text


def check_queue(text: str) -> str:
    if not _NAME.match(text):
        raise InputError(f"{text!r} is not a queue name: letters, digits, '_', '.', '-'")
    return text


def parse_queues(text: str) -> tuple[str, ...]:
    """``"servicedesk,switchboard"`` -> sorted, de-duplicated names; "" -> none."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    return tuple(sorted(check_queue(name) for name in names))


def check_agent_name(text: str) -> str:
    if not _AGENT.match(text) or ".." in text:
        raise InputError(f"{text!r} is not an agent name: the queue member name as in "
                         "queues.conf, e.g. agent1 (letters, digits, '_', '.', '@', '+', "
                         "'-', spaces)")
    return text


def check_account(role: Role, queues: tuple[str, ...], agent_name: str | None) -> None:
    """An agent without an agent name, or a supervisor without queues, would see nothing;
    say so when the account is set up rather than when they first log in."""
    if role is Role.AGENT and not agent_name:
        raise InputError("an agent needs --agent NAME: the queue member name their calls "
                         "carry")
    if role is Role.SUPERVISOR and not queues:
        raise InputError("a supervisor needs --queues Q1,Q2: the queues they supervise")
