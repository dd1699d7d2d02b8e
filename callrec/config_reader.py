"""Typed, key-naming access to a parsed TOML document, for :mod:`callrec.config`.

Every accessor raises :class:`ConfigError` with the full dotted key, so the admin is told
exactly which line of the file to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from callrec.errors import ConfigError

LANGUAGES = ("fi", "sv", "en")
# Queue, context and sound names end up in dialplan applications' arguments: keep them to
# characters that cannot split or inject an argument.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SAFE_SOUND = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_DIALLED = re.compile(r"^\+?[0-9]{2,20}$")


def reject_unknown(table: object, key: str, known: set[str]) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(key, "expected a table")
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise ConfigError(where, f"unknown key (known here: {', '.join(sorted(known))})")


MISSING = object()


class TomlReader:
    """Typed access to dotted keys, raising ConfigError with the full key name."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def get(self, key: str, default: object = MISSING) -> object:
        node: object = self._raw
        for part in key.split("."):
            if not isinstance(node, Mapping):
                raise ConfigError(key, "expected a table above this key")
            if part not in node:
                if default is MISSING:
                    raise ConfigError(key, "missing")
                return default
            node = node[part]
        return node

    def table(self, key: str) -> Mapping[str, Any]:
        value = self.get(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(key, "expected a table")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, MISSING if default is None else default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(key, f"expected non-empty text, got {value!r}")
        if any(ord(ch) < 32 for ch in value):
            raise ConfigError(key, "control characters are not allowed")
        return value

    def port(self, key: str, default: int) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigError(key, f"expected a port number 1-65535, got {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(key, f"expected a whole number {low}-{high}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def safe_name(self, key: str, default: str | None = None) -> str:
        value = self.text(key, default)
        if not SAFE_NAME.match(value):
            raise ConfigError(key, f"{value!r}: use only letters, digits, '_', '-', '.'")
        return value

    def sound(self, key: str, default: str) -> str:
        value = self.text(key, default)
        if not _SAFE_SOUND.match(value):
            raise ConfigError(key, f"{value!r} is not a sound name like 'callrec/notice'")
        return value

    def numbers(self, key: str) -> tuple[tuple[str, ...], dict[str, str]]:
        """Dialled numbers, each either "0295504000" or {number = "...", language = "sv"}."""
        value = self.get(key)
        if not isinstance(value, list) or not value:
            raise ConfigError(key, "expected a non-empty list of dialled numbers")
        numbers: list[str] = []
        languages: dict[str, str] = {}
        for index, entry in enumerate(value):
            number = entry.get("number") if isinstance(entry, Mapping) else entry
            if not isinstance(number, str) or not _DIALLED.match(number):
                raise ConfigError(key, f"{number!r} is not a dialled number (digits, "
                                  "optionally a leading '+', as the trunk delivers it)")
            if isinstance(entry, Mapping):
                reject_unknown(entry, f"{key}[{index}]", {"number", "language"})
                if "language" in entry:
                    languages[number] = _entry_language(entry, f"{key}[{index}]")
            numbers.append(number)
        return tuple(numbers), languages


def _entry_language(entry: Mapping[str, Any], key: str) -> str:
    try:
        return TomlReader(entry).choice("language", LANGUAGES, None)
    except ConfigError as exc:
        # The entry's own reader only knows "language"; name the full key.
        raise ConfigError(f"{key}.{exc.key}", exc.problem) from None
