"""Command-line values more than one command reads."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from callrec.errors import InputError


def parse_instant(option: str, text: str, naive_zone: tzinfo, example: str) -> datetime:
    """An ISO 8601 date or time as an aware UTC instant.

    A value without an offset is read in ``naive_zone``: UTC for machine-facing options,
    the register's time zone for a date a person copies from a letter.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r} is not an ISO 8601 time: expected e.g. "
                         f"{example}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone)
    return moment.astimezone(UTC)
