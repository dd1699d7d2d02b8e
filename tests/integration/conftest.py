"""Fixtures for the Asterisk tier: the lab (once per session) and the agents' phones.

Everything under tests/integration is marked ``asterisk``. When the lab cannot come up
the tests FAIL with the reason: a silently skipped tier would look like a green one.
Deselect the tier deliberately with ``-m "not asterisk"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callrec.errors import LabError
from callrec.lab.asterisk import AsteriskLab
from callrec.lab.sipp import SippAgent

PROJECT_DIR = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# Ports and tones of the agents' phones; pjsip.conf points agent1/agent2 at these ports.
AGENT1_PORT, AGENT1_HZ, AGENT1_MEDIA = 5080, 1000.0, 31000
AGENT2_PORT, AGENT2_HZ, AGENT2_MEDIA = 5081, 1500.0, 32000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
def lab() -> Iterator[AsteriskLab]:
    """A running lab Asterisk; stopped afterwards only if this session started it."""
    lab = AsteriskLab(PROJECT_DIR)
    was_running = lab.status().running
    try:
        lab.up()
    except LabError as exc:
        pytest.fail(f"Asterisk lab could not be provisioned: {exc}", pytrace=False)
    yield lab
    if not was_running:
        lab.down()


@dataclass(frozen=True)
class Agents:
    agent1: SippAgent
    agent2: SippAgent


@pytest.fixture
def agents(lab: AsteriskLab, tmp_path: Path) -> Iterator[Agents]:
    """agent1 (servicedesk, 1000 Hz) and agent2 (switchboard, 1500 Hz) answering calls."""
    workdir = tmp_path / "agents"
    agent1 = SippAgent("agent1", AGENT1_PORT, AGENT1_HZ, media_port=AGENT1_MEDIA,
                       workdir=workdir)
    agent2 = SippAgent("agent2", AGENT2_PORT, AGENT2_HZ, media_port=AGENT2_MEDIA,
                       workdir=workdir)
    try:
        agent1.start()
        agent2.start()
    except LabError as exc:
        agent1.stop()
        agent2.stop()
        pytest.fail(f"SIPp agents could not start: {exc}", pytrace=False)
    yield Agents(agent1, agent2)
    agent1.stop()
    agent2.stop()
