"""Production code has no test switches: the crash tests here inject their faults from
the test side (tests/support/sigkill_after.py), never through callrec itself.

callrec/lab is left out: it starts and stops the lab's own Asterisk processes.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "callrec"
EXEMPT = PACKAGE / "lab"
FORBIDDEN = ("CALLREC_TEST_", "os.kill(", "SIGKILL")


def production_sources() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if not path.is_relative_to(EXEMPT))


def hooks_in(source: str) -> list[str]:
    """The lines that read a test switch or kill a process."""
    return [line.strip() for line in source.splitlines()
            if any(word in line for word in FORBIDDEN)]


def test_production_code_reads_no_test_switch_and_kills_no_process() -> None:
    sources = production_sources()
    # The scan covers the modules that used to carry such hooks.
    scanned = {path.relative_to(PACKAGE).as_posix() for path in sources}
    assert {"commands/purge.py", "commands/rights.py", "rights/files.py"} <= scanned
    found = [f"{path.relative_to(PACKAGE.parent)}: {line}" for path in sources
             for line in hooks_in(path.read_text(encoding="utf-8"))]
    assert found == []


def test_the_scan_sees_a_hook() -> None:
    hooked = ('hook = os.environ.get("CALLREC_TEST_ERASE_KILL_AFTER")\n'
              "if hook:\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    assert hooks_in(hooked) == ['hook = os.environ.get("CALLREC_TEST_ERASE_KILL_AFTER")',
                                "os.kill(os.getpid(), signal.SIGKILL)"]
