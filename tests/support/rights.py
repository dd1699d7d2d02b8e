"""Shared pieces of the data-subject-rights tests: a configuration pointing at the test
database and a recordings directory, calls with real WAV files, a CLI runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sqlalchemy import select

from callrec.cli import main
from callrec.commands.actor import current_actor
from callrec.domain.history import CallEnd, NewCall, Outcome
from callrec.recordings.files import RecordingFiles
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.tables import Base

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"
SUBJECT = "+358401234567"
SPELLINGS = ("+358 40 123 4567", "0401234567", "00358401234567")
OTHER = "+358501112222"
Cli = Callable[..., tuple[int, str, str]]


def write_config(path: Path, database_url: str, recordings: Path,
                 officers: tuple[str, ...] = ()) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    replacements = {
        'url = "sqlite:////var/lib/callrec/callrec.db"': f"url = {json.dumps(database_url)}",
        'asterisk_dir = "/var/spool/asterisk/callrec"': f'asterisk_dir = "{recordings}"',
        'local_dir = "/var/spool/asterisk/callrec"': f'local_dir = "{recordings}"',
        'officers = ["dpo"]': f"officers = {json.dumps(list(officers))}",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def my_login() -> str:
    return current_actor().split(" ", 1)[0]


def write_wav(path: Path, freq: float, seconds: float = 0.5, rate: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate,
                    subtype="PCM_16")


@dataclass
class Seeder:
    history: SqlContactHistory
    files: RecordingFiles
    make_call: Callable[..., NewCall]
    freq: float = 300.0

    def call(self, number: str | None = SUBJECT, recorded: bool = True,
             finished: bool = True, **overrides: object) -> NewCall:
        """A finished call from ``number`` with a real WAV (a tone of its own)."""
        national = number is not None and number.startswith("+358")
        raw = "0" + number[4:] if national and number else number
        call = self.make_call(caller_number=number, caller_number_raw=raw, **overrides)
        self.history.open_call(call)
        facts = None
        if recorded:
            target = self.files.target_for(call.id, call.started_at)
            self.freq += 50
            write_wav(self.files.local_path(target.relative_path), self.freq)
            self.history.notice_completed(call.id, target.relative_path)
            facts = self.files.measure(target.relative_path)
        if finished:
            self.history.agent_connected(call.id, "Anna", "PJSIP/anna", call.started_at)
            self.history.finish_call(call.id, CallEnd(call.started_at + timedelta(seconds=40),
                                                      Outcome.ANSWERED, facts))
        return call


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir()
    return path


@pytest.fixture
def config_path(tmp_path: Path, database_url: str, recordings: Path) -> Path:
    return write_config(tmp_path / "callrec.toml", database_url, recordings)


@pytest.fixture
def seeder(history: SqlContactHistory, recordings: Path,
           make_call: Callable[..., NewCall]) -> Seeder:
    return Seeder(history, RecordingFiles(str(recordings), recordings), make_call)


@pytest.fixture
def cli(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str, config: Path | None = None) -> tuple[int, str, str]:
        status = main(["--config", str(config or config_path), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err
    return run


def dump(database: Database) -> dict[str, list[str]]:
    """Every row of every table, as text: for "nothing changed" and "nothing left"."""
    with database.connection() as connection:
        return {table.name: sorted(repr(tuple(row)) for row in
                                   connection.execute(select(table)))
                for table in Base.metadata.sorted_tables}


def disk(recordings: Path) -> dict[str, bytes]:
    return {str(path.relative_to(recordings)): path.read_bytes()
            for path in sorted(recordings.rglob("*")) if path.is_file()}
