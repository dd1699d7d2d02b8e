"""Request input, checked before anything else sees it: one :class:`InputError` with a
message a person can act on for anything malformed, unknown or out of range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from callrec.access.roles import (
    CallFilters,
    Principal,
    Purpose,
    check_agent_name,
    check_queue,
    parse_purpose,
)
from callrec.domain.numbers import parse_subject_number
from callrec.errors import InputError

CALL_ID = re.compile(r"^[0-9a-f]{32}$")
SEARCH_KEYS = ("number", "service", "queue", "agent", "from", "to", "limit")
MAX_VALUE = 200
MAX_NOTE = 200
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class ListenRequest:
    purpose: Purpose
    note: str | None
    download: bool


def valid_call_id(text: str) -> bool:
    return bool(CALL_ID.match(text))


def search_filters(query: MultiMapping[str], region: str, zone: ZoneInfo, *,
                   form: bool = False) -> CallFilters:
    """A search from query parameters. An HTML form sends its empty fields, which then
    count as not given; to the API an empty value is an error like any other."""
    values = single_values(query, SEARCH_KEYS)
    if not form:
        for key, value in values.items():
            if not value.strip():
                raise InputError(f"parameter {key!r} is empty")
    given = {key: value.strip() for key, value in values.items() if value.strip()}
    number = given.get("number")
    since, until = given.get("from"), given.get("to")
    filters = CallFilters(
        number=None if number is None else parse_subject_number(number, region),
        service=None if "service" not in given else _service(given["service"]),
        queue=None if "queue" not in given else check_queue(given["queue"]),
        agent=None if "agent" not in given else check_agent_name(given["agent"]),
        since=None if since is None else parse_moment("from", since, zone),
        until=None if until is None else parse_moment("to", until, zone),
        limit=parse_limit(given.get("limit")),
    )
    if filters.since and filters.until and filters.since >= filters.until:
        raise InputError("'from' must be before 'to'")
    return filters


def single_values(query: MultiMapping[str], known: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in query.items():
        if key not in known:
            raise InputError(f"unknown parameter {_shown(key)!r}: use {', '.join(known)}")
        if key in values:
            raise InputError(f"parameter {key!r} given more than once")
        if len(value) > MAX_VALUE or "\x00" in value:
            raise InputError(f"parameter {key!r} is too long or holds a NUL")
        values[key] = value
    return values


def _service(text: str) -> str:
    try:
        return check_queue(text)
    except InputError:
        raise InputError(f"{text!r} is not a service name") from None


def parse_moment(key: str, text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset it is the contact centre's local time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{key!r}: {text!r} is not an ISO 8601 date or time, e.g. "
                         "2026-11-24 or 2026-11-24T08:00:00+02:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    # str.isdigit() would let through digits of other scripts ("９"), which int() reads.
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise InputError(f"'limit' must be a whole number 1-{MAX_LIMIT}")
    return int(text)


def listen_request(body: object, principal: Principal) -> ListenRequest:
    if not isinstance(body, Mapping):
        raise InputError("expected a JSON object like {\"purpose\": \"quality\"}")
    unknown = set(body) - {"purpose", "note", "download"}
    if unknown:
        raise InputError(f"unknown field {_shown(str(sorted(unknown)[0]))!r}: "
                         "use purpose, note, download")
    purpose = body.get("purpose")
    if not isinstance(purpose, str):
        raise InputError("'purpose' is required: quality, training, complaint or technical")
    download = body.get("download", False)
    if not isinstance(download, bool):
        raise InputError("'download' must be true or false")
    return ListenRequest(parse_purpose(purpose), _note(body.get("note"), principal), download)


def _note(value: object, principal: Principal) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError("'note' must be text")
    note = (value or "").strip()
    if len(note) > MAX_NOTE or any(ord(char) < 32 for char in note):
        raise InputError(f"'note' must be at most {MAX_NOTE} characters of plain text")
    if principal.note_required and not note:
        raise InputError("maintainers must say why in 'note' (e.g. a ticket number)")
    return note or None


def _shown(text: str) -> str:
    return text[:40]
