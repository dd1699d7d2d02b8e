from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrec.commands.purge import TerminalProgress, parse_now, progress_for
from callrec.config import load_config
from callrec.domain.services import Retention
from callrec.errors import ConfigError, InputError
from callrec.retention.ports import NoProgress

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "callrec.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_orphan_grace_defaults_to_seven_days(tmp_path: Path) -> None:
    assert load_config(EXAMPLE).retention.orphan_grace == Retention(days=7)
    without = variant(tmp_path, 'orphan_grace = "7 days"', "")
    assert load_config(without).retention.orphan_grace == Retention(days=7)


@pytest.mark.parametrize(("text", "grace"), [
    ('"2 weeks"', Retention(days=14)),
    ('"1 month"', Retention(months=1)),
    ('"until erased"', Retention(forever=True)),
])
def test_orphan_grace_is_read_like_a_retention(tmp_path: Path, text: str,
                                               grace: Retention) -> None:
    path = variant(tmp_path, 'orphan_grace = "7 days"', f"orphan_grace = {text}")
    assert load_config(path).retention.orphan_grace == grace


@pytest.mark.parametrize(("new", "problem"), [
    ('orphan_grace = "soon"', "cannot read 'soon'"),
    ('orphan_grace = "0 days"', "zero"),
    ("orphan_grace = 7", "expected text"),
    ('orphan_grace = "7 days"\nbatch_size = 10', "unknown key"),
])
def test_bad_retention_section_names_the_key(tmp_path: Path, new: str, problem: str) -> None:
    path = variant(tmp_path, 'orphan_grace = "7 days"', new)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key.startswith("retention.")
    assert problem in caught.value.problem


@pytest.mark.parametrize(("text", "moment"), [
    ("2026-06-01T03:00:00+03:00", datetime(2026, 6, 1, 0, 0, tzinfo=UTC)),
    ("2026-06-01T03:00:00", datetime(2026, 6, 1, 3, 0, tzinfo=UTC)),
    ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
])
def test_parse_now(text: str, moment: datetime) -> None:
    parsed = parse_now(text)
    assert parsed == moment and parsed.tzinfo is UTC
    assert parsed.utcoffset() == timedelta(0)


def test_parse_now_refuses_nonsense() -> None:
    with pytest.raises(InputError, match=r"--now 'soon' is not an ISO 8601 time"):
        parse_now("soon")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_only_for_long_purges() -> None:
    assert isinstance(progress_for(io.StringIO()), NoProgress)
    terminal = FakeTerminal()
    bar = progress_for(terminal)
    assert isinstance(bar, TerminalProgress)
    bar.start(10)          # short: no bar at all
    bar.advance(10)
    bar.finish()
    assert terminal.getvalue() == ""
    bar = TerminalProgress(terminal, width=10)
    bar.start(2000)
    bar.advance(1000)
    bar.finish()
    lines = terminal.getvalue()
    assert "\rpurging [#####.....]  50% 1000/2000" in lines
    assert lines.endswith("\rpurging [##########] 100% 2000/2000\n")
