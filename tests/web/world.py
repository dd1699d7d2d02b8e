"""A small contact centre for web tests: users of every role, calls of two agents in two
queues, a restricted call, an objector's call and a call without a recording."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from argon2 import PasswordHasher
from sqlalchemy import update

from callrec.access.credentials import Passwords, new_api_token, secret_hash
from callrec.access.roles import Role
from callrec.config import Config, parse_config
from callrec.domain.history import CallEnd, NewCall, Outcome, RecordingFacts
from callrec.pause.service import PauseService
from callrec.storage.access_log_dao import SqlAccessLog
from callrec.storage.credentials_dao import SqlCredentials
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.pauses_dao import AsyncAccessLog, AsyncPauses, SqlPauses, ToThread
from callrec.storage.tables import CallRow
from callrec.storage.users_dao import SqlUsers
from callrec.web.context import WebContext
from callrec.web.server import build_context

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"
PASSWORD = "correct horse battery"
OBJECTOR = "+358409999999"
# (username, role, queues, agent name)
USERS = (
    ("agent1", Role.AGENT, (), "agent1"),
    ("agent2", Role.AGENT, (), "agent2"),
    ("sup", Role.SUPERVISOR, ("servicedesk",), None),
    ("qa", Role.QUALITY, (), None),
    ("maint", Role.MAINTAINER, (), None),
    ("dpo", Role.DPO, (), None),
    ("admin", Role.ADMIN, (), None),
)


class Clock:
    """Real time by default; tests move it on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Muter:
    """The pause's RecordingMuter without Asterisk: which channels are muted now, and
    every mute/unmute asked (the lab tests use the real AMI)."""

    def __init__(self) -> None:
        self.muted: set[str] = set()
        self.asked: list[tuple[str, str]] = []

    async def mute(self, channel_id: str) -> None:
        self.asked.append(("mute", channel_id))
        self.muted.add(channel_id)

    async def unmute(self, channel_id: str) -> None:
        self.asked.append(("unmute", channel_id))
        self.muted.discard(channel_id)


def fast_passwords() -> Passwords:
    # argon2id still, but cheap: tests hash and check many passwords.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_config(tmp_path: Path, database_url: str, **web: Any) -> Config:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    recordings = tmp_path / "recordings"
    recordings.mkdir(exist_ok=True)
    raw["database"] = {"url": database_url}
    raw["recordings"] = {"local_dir": str(recordings), "asterisk_dir": str(recordings)}
    raw["web"] = {**raw["web"], "failed_login_delay_ms": 0, **web}
    return parse_config(raw)


def write_wav(path: Path, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 8000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)
    soundfile.write(str(path), tone, rate, subtype="PCM_16")


@dataclass
class World:
    config: Config
    database: Database
    context: WebContext
    clock: Clock
    calls: dict[str, str] = field(default_factory=dict)     # label -> call id
    tokens: dict[str, str] = field(default_factory=dict)    # username -> API token
    objectors: set[str] = field(default_factory=set)
    muter: Muter = field(default_factory=Muter)

    def add_call(self, label: str, make_call: Callable[..., NewCall], agent: str | None,
                 queue: str, recorded: bool = True, **overrides: Any) -> str:
        history = SqlContactHistory(self.database)
        call = make_call(queue=queue, service=queue, **overrides)
        history.open_call(call)
        facts = None
        if recorded:
            relative = f"{call.started_at:%Y/%m/%d}/{call.id}.wav"
            history.notice_completed(call.id, relative)
            path = self.config.recordings.local_dir / relative
            write_wav(path)
            facts = RecordingFacts(relative, path.stat().st_size, 1.0, "0" * 64)
        if agent is not None:
            history.agent_connected(call.id, agent, f"PJSIP/{agent}",
                                    call.started_at + timedelta(seconds=5))
        history.finish_call(call.id, CallEnd(call.started_at + timedelta(seconds=65),
                                             Outcome.ANSWERED if agent else Outcome.ABANDONED,
                                             facts))
        self.calls[label] = call.id
        return call.id

    def restrict(self, label: str) -> None:
        with self.database.session() as session:
            session.execute(update(CallRow).where(CallRow.id == self.calls[label])
                            .values(restricted_at=datetime.now(UTC)))


def build_world(tmp_path: Path, database: Database, database_url: str,
                make_call: Callable[..., NewCall], **web: Any) -> World:
    clock = Clock()
    config = test_config(tmp_path, database_url, **web)
    objectors: set[str] = {OBJECTOR}
    muter = Muter()
    pausing = PauseService(AsyncPauses(SqlPauses(database), ToThread()), muter,
                           AsyncAccessLog(SqlAccessLog(database), ToThread()), clock)
    context = build_context(config, database, has_objected=objectors.__contains__,
                            passwords=fast_passwords(), clock=clock, pausing=pausing)
    world = World(config, database, context, clock, objectors=objectors, muter=muter)
    users = SqlUsers(database)
    credentials = SqlCredentials(database)
    password_hash = context.passwords.hash(PASSWORD)
    for username, role, queues, agent in USERS:
        users.add(username, role, queues, agent, password_hash, clock())
        token = new_api_token()
        credentials.add_token(username, "tests", secret_hash(token), clock(), None)
        world.tokens[username] = token
    world.add_call("agent1", make_call, "agent1", "servicedesk")
    world.add_call("agent2", make_call, "agent2", "switchboard")
    world.add_call("restricted", make_call, "agent1", "servicedesk")
    world.restrict("restricted")
    world.add_call("objector", make_call, "agent2", "servicedesk", caller_number=OBJECTOR,
                   caller_number_raw="0409999999")
    world.add_call("unrecorded", make_call, "agent1", "servicedesk", recorded=False)
    return world




def write_config_file(tmp_path: Path, database_url: str) -> Path:
    """The example configuration pointed at this test's database and recordings."""
    recordings = tmp_path / "recordings"
    recordings.mkdir(exist_ok=True)
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:////var/lib/callrec/callrec.db"',
                        f'url = "{database_url}"')
    text = text.replace('"/var/spool/asterisk/callrec"', f'"{recordings}"')
    path = tmp_path / "callrec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def open_live_call(world: World, make_call: Callable[..., NewCall]) -> NewCall:
    """agent1 is on this servicedesk call now; its recording started 20 s ago."""
    call = make_call(queue="servicedesk", service="servicedesk",
                     started_at=world.clock() - timedelta(seconds=30))
    history = SqlContactHistory(world.database)
    history.open_call(call)
    history.agent_connected(call.id, "agent1", "PJSIP/agent1", world.clock(),
                            f"{call.started_at:%Y/%m/%d}/{call.id}.wav",
                            world.clock() - timedelta(seconds=20))
    return call
