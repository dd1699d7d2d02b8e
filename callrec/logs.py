"""structlog set-up: one JSON object per line on stderr (journald keeps it as is).

Logs carry call ids (call_id, channel_id, linkedid), never caller numbers or names: the
contact history is the register, the log is not another copy of it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


class _StderrLogger:
    """Writes to whatever ``sys.stderr`` is when a line is logged.

    structlog's PrintLogger keeps the stream it was created with; a process that swaps
    stderr (a test runner capturing output, a daemon redirecting it) would then write to
    a closed file.
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard library's side of the same rule (Alembic and SQLAlchemy log here)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _stderr_logger(*_: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    root = logging.getLogger()
    # Libraries (Alembic, SQLAlchemy) speak only when something is wrong, unless debugging.
    root.setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
