"""The systemd units: accepted by systemd-analyze verify, hardened, timer as promised."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICES = ("callrec.service", "callrec-purge.service", "callrec-keys.service")
INSTALLED_BINARY = "/usr/local/bin/callrec"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "User": "callrec",
}


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def verify(directory: Path, *names: str) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd (dev.sh test does)")
    return subprocess.run([analyze, "verify", *(str(directory / name) for name in names)],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this checkout's callrec (verify checks that the
    binary exists; /usr/local/bin/callrec is where an admin installs it)."""
    local = Path(sys.executable).with_name("callrec")
    assert local.exists(), local
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8")
        (tmp_path / unit.name).write_text(text.replace(INSTALLED_BINARY, str(local)),
                                          encoding="utf-8")
    return tmp_path


def test_systemd_analyze_verify_accepts_every_unit(staged: Path) -> None:
    names = sorted(path.name for path in UNITS.iterdir())
    assert names == ["callrec-keys.service", "callrec-keys.timer", "callrec-purge.service",
                     "callrec-purge.timer", "callrec.service"]
    result = verify(staged, *names)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_verify_does_catch_a_broken_unit(staged: Path) -> None:
    """The check above can fail: a typo in a directive is reported."""
    unit = staged / "callrec-purge.service"
    unit.write_text(unit.read_text(encoding="utf-8").replace("Type=oneshot", "Type=oneshoot"),
                    encoding="utf-8")
    result = verify(staged, "callrec-purge.service")
    assert "oneshoot" in result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened(name: str) -> None:
    service = read_unit(name)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, key
    umask = int(service["UMask"], 8)
    assert umask & 0o007 == 0o007, "others must get no access to what callrec creates"
    assert service["ExecStart"].startswith(INSTALLED_BINARY + " ")
    assert "-/var/lib/callrec-keys" in service["ReadWritePaths"].split()


def test_purge_service_is_a_oneshot_purge_with_the_database_writable() -> None:
    service = read_unit("callrec-purge.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == f"{INSTALLED_BINARY} purge"
    assert "/var/lib/callrec" in service["ReadWritePaths"].split()
    assert service["StateDirectory"] == "callrec"
    assert "Install" not in read_unit("callrec-purge.service")  # started by the timer only


def test_timer_runs_daily_persistently_with_a_random_delay() -> None:
    timer = read_unit("callrec-purge.timer")
    section = timer["Timer"]
    assert section["Persistent"] == "true"
    assert section["OnCalendar"].startswith("*-*-* ")
    assert section["RandomizedDelaySec"]
    assert section.get("Unit", "callrec-purge.service") == "callrec-purge.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.parametrize("name", ["callrec.service", "callrec-purge.service"])
def test_services_that_touch_recordings_may_write_them(name: str) -> None:
    assert "/var/spool/asterisk/callrec" in read_unit(name)["Service"]["ReadWritePaths"].split()


def test_keys_service_rotates_when_due_then_retires() -> None:
    """Both run each night; only the store and the master keys are writable."""
    lines = (UNITS / "callrec-keys.service").read_text(encoding="utf-8").splitlines()
    starts = [line.split("=", 1)[1] for line in lines if line.startswith("ExecStart=")]
    assert starts == [f"{INSTALLED_BINARY} keys rotate --due", f"{INSTALLED_BINARY} keys retire"]
    writable = read_unit("callrec-keys.service")["Service"]["ReadWritePaths"].split()
    assert "-/etc/callrec/keys" in writable and "/var/spool/asterisk/callrec" not in writable
    timer = read_unit("callrec-keys.timer")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
