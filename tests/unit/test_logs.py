"""Logging follows whatever stderr is now, and lines are JSON with the call's ids."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from callrec.logs import configure_logging


def test_lines_go_to_the_current_stderr_even_after_it_was_swapped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("info")
    first.close()  # e.g. a test runner's capture ending
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    with structlog.contextvars.bound_contextvars(call_id="ab" * 16):
        structlog.get_logger("t").info("call_started", service="servicedesk")
    line = json.loads(second.getvalue())
    assert (line["msg"], line["call_id"], line["level"]) == ("call_started", "ab" * 16, "info")
    structlog.reset_defaults()


def test_debug_lines_are_dropped_at_info_level(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    configure_logging("info")
    structlog.get_logger("t").debug("noise")
    assert captured.getvalue() == ""
    structlog.reset_defaults()
