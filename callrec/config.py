"""Configuration: one TOML file, validated completely before anything starts.

Every problem is reported as a :class:`ConfigError` naming the offending key, so an admin
can fix the file without reading code.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callrec.errors import ConfigError

CONFIG_ENV = "CALLREC_CONFIG"
LANGUAGES = ("fi", "sv", "en")
# Queue, context and sound names end up in dialplan applications' arguments: keep them to
# characters that cannot split or inject an argument.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SAFE_SOUND = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_DIALLED = re.compile(r"^\+?[0-9]{2,20}$")
_RETENTION = re.compile(r"^\s*(\d+)\s*(day|days|week|weeks|month|months|year|years)\s*$")
_FOREVER = ("until erased", "forever")
# What the call flow does with a call from a number that objected (GDPR art. 21).
ON_OBJECTION = ("record", "do_not_record")
# Logins as current_actor() reports them: what useradd allows.
_LOGIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
# The keys each top-level table may hold; [services.*] are checked in _parse_services.
_SECTION_KEYS = {
    "ari": {"url", "username", "password", "app"},
    "agi": {"host", "port"},
    "database": {"url"},
    "recordings": {"asterisk_dir", "local_dir", "queue_context"},
    "numbers": {"default_country", "timezone"},
    "default": {"service"},
    "logging": {"level"},
    "retention": {"orphan_grace"},
    "rights": {"officers"},
    "web": {"host", "port", "session_minutes", "cookie_secure", "lockout_failures",
            "lockout_minutes", "failed_login_delay_ms"},
}


@dataclass(frozen=True)
class Retention:
    """How long something is kept: calendar months and/or days; ``None`` means until erased."""

    months: int = 0
    days: int = 0
    forever: bool = False

    def __str__(self) -> str:
        if self.forever:
            return "until erased"
        parts = [f"{self.months} months"] if self.months else []
        parts += [f"{self.days} days"] if self.days else []
        return " ".join(parts) or "0 days"


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    numbers: tuple[str, ...]
    queue: str
    language: str
    notice: str
    recording_retention: Retention
    history_retention: Retention
    # A service may answer one number per language (e.g. a Swedish line of a Finnish desk).
    number_languages: Mapping[str, str] = field(default_factory=dict)
    # "record": an objector's calls are still recorded (and kept out of sampling, training
    # and analytics); "do_not_record": they are not recorded at all.
    on_objection: str = "record"

    def language_for(self, dialled: str) -> str:
        return self.number_languages.get(dialled, self.language)


@dataclass(frozen=True)
class AriConfig:
    url: str = "http://127.0.0.1:8088"
    username: str = "callrec"
    password: str = ""
    app: str = "callrec"


@dataclass(frozen=True)
class AgiConfig:
    host: str = "127.0.0.1"
    port: int = 4573

    @property
    def agent_connected_url(self) -> str:
        return f"agi://{self.host}:{self.port}/agent-connected"


@dataclass(frozen=True)
class RecordingsConfig:
    asterisk_dir: str
    local_dir: Path
    queue_context: str = "callrec-queue"


@dataclass(frozen=True)
class WebConfig:
    """``callrec web``: the HTTP API and the browser player."""

    host: str = "127.0.0.1"
    port: int = 8480
    session_minutes: int = 480
    # Set when a TLS proxy fronts callrec web: the cookie is then never sent in clear.
    cookie_secure: bool = False
    lockout_failures: int = 5
    lockout_minutes: int = 15
    failed_login_delay_ms: int = 500


@dataclass(frozen=True)
class RetentionConfig:
    """``callrec purge`` settings; the periods themselves are per service."""

    # A recording-shaped file no row knows is deleted only once it is this old: a call
    # that is being set up may have its file a moment before its row has the path.
    orphan_grace: Retention = Retention(days=7)


@dataclass(frozen=True)
class Config:
    ari: AriConfig
    agi: AgiConfig
    database_url: str
    recordings: RecordingsConfig
    default_region: str
    timezone: ZoneInfo
    services: Mapping[str, ServiceConfig]
    default_service: str
    log_level: str = "info"
    # Data-protection officers: the only logins that may export restricted data (art. 18).
    rights_officers: tuple[str, ...] = ()
    web: WebConfig = field(default_factory=WebConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    source: Path | None = field(default=None, compare=False)

    def service_for_number(self, dialled: str) -> tuple[ServiceConfig, bool]:
        """The service a dialled number reaches, and whether the number was known."""
        for service in self.services.values():
            if dialled in service.numbers:
                return service, True
        return self.services[self.default_service], False


def parse_retention(key: str, text: object) -> Retention:
    if not isinstance(text, str):
        raise ConfigError(key, f"expected text like '2 months' or 'until erased', got {text!r}")
    if text.strip().lower() in _FOREVER:
        return Retention(forever=True)
    match = _RETENTION.match(text.lower())
    if not match:
        raise ConfigError(key, f"cannot read {text!r}: use e.g. '2 months', '90 days', "
                          "'1 year' or 'until erased'")
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    if count == 0:
        raise ConfigError(key, "a retention of zero would delete recordings at once")
    return {
        "day": Retention(days=count),
        "week": Retention(days=7 * count),
        "month": Retention(months=count),
        "year": Retention(months=12 * count),
    }[unit]


def default_database_url() -> str:
    state = Path(os.environ.get("STATE_DIRECTORY", "/var/lib/callrec"))
    return f"sqlite:///{state / 'callrec.db'}"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the TOML file at ``path`` (or ``$CALLREC_CONFIG``)."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    if not chosen:
        raise ConfigError("", f"no configuration file: pass --config or set {CONFIG_ENV}")
    file = Path(chosen)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("", f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"{file}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{file}: not valid TOML: {exc}") from None
    config = parse_config(raw, base_dir=file.parent)
    return Config(**{**config.__dict__, "source": file})


def parse_config(raw: Mapping[str, Any], base_dir: Path = Path(".")) -> Config:
    """Validate an already-parsed TOML document."""
    reader = _Reader(raw)
    _reject_unknown(raw, "", {*_SECTION_KEYS, "services"})
    for section, known in _SECTION_KEYS.items():
        if section in raw:
            _reject_unknown(raw[section], section, known)
    services = _parse_services(reader)
    default_service = reader.text("default.service", default=next(iter(services), ""))
    if default_service not in services:
        raise ConfigError("default.service", f"{default_service!r} is not one of the services "
                          f"({', '.join(services)})")
    local_dir = Path(reader.text("recordings.local_dir"))
    if not local_dir.is_absolute():
        local_dir = (base_dir / local_dir).resolve()
    asterisk_dir = reader.text("recordings.asterisk_dir", default=str(local_dir))
    if not asterisk_dir.startswith("/"):
        raise ConfigError("recordings.asterisk_dir", "must be an absolute path")
    return Config(
        ari=_parse_ari(reader),
        agi=AgiConfig(host=reader.text("agi.host", default="127.0.0.1"),
                      port=reader.port("agi.port", default=4573)),
        database_url=reader.text("database.url", default=default_database_url()),
        recordings=RecordingsConfig(
            asterisk_dir=asterisk_dir.rstrip("/") or "/",
            local_dir=local_dir,
            queue_context=reader.safe_name("recordings.queue_context", default="callrec-queue"),
        ),
        default_region=_parse_region(reader),
        timezone=_parse_timezone(reader),
        services=services,
        default_service=default_service,
        log_level=reader.choice("logging.level", ("debug", "info", "warning", "error"), "info"),
        retention=RetentionConfig(orphan_grace=parse_retention(
            "retention.orphan_grace", reader.get("retention.orphan_grace", "7 days"))),
        rights_officers=_parse_officers(reader),
        web=_parse_web(reader),
    )


def _parse_web(reader: _Reader) -> WebConfig:
    return WebConfig(
        host=reader.text("web.host", default="127.0.0.1"),
        port=reader.port("web.port", default=8480),
        session_minutes=reader.integer("web.session_minutes", 480, 5, 7 * 24 * 60),
        cookie_secure=reader.boolean("web.cookie_secure", default=False),
        lockout_failures=reader.integer("web.lockout_failures", 5, 1, 100),
        lockout_minutes=reader.integer("web.lockout_minutes", 15, 1, 24 * 60),
        failed_login_delay_ms=reader.integer("web.failed_login_delay_ms", 500, 0, 10_000),
    )


def _parse_ari(reader: _Reader) -> AriConfig:
    url = reader.text("ari.url", default="http://127.0.0.1:8088")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("ari.url", f"{url!r} is not an http(s) URL")
    return AriConfig(url=url.rstrip("/"), username=reader.text("ari.username"),
                     password=reader.text("ari.password"),
                     app=reader.safe_name("ari.app", default="callrec"))


def _parse_officers(reader: _Reader) -> tuple[str, ...]:
    value = reader.get("rights.officers", [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError("rights.officers", 'expected a list of logins, e.g. ["dpo"]')
    for login in value:
        if not _LOGIN.match(login):
            raise ConfigError("rights.officers", f"{login!r} is not a login name")
    return tuple(value)


def _parse_region(reader: _Reader) -> str:
    region = reader.text("numbers.default_country", default="FI").upper()
    if not re.fullmatch(r"[A-Z]{2}", region):
        raise ConfigError("numbers.default_country", f"{region!r} is not a two-letter country code")
    return region


def _parse_timezone(reader: _Reader) -> ZoneInfo:
    name = reader.text("numbers.timezone", default="Europe/Helsinki")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("numbers.timezone", f"unknown time zone {name!r}") from None


def _parse_services(reader: _Reader) -> dict[str, ServiceConfig]:
    table = reader.table("services")
    if not table:
        raise ConfigError("services", "at least one service is needed")
    services: dict[str, ServiceConfig] = {}
    owner_of: dict[str, str] = {}
    for name in table:
        key = f"services.{name}"
        if not _SAFE_NAME.match(name):
            raise ConfigError(key, "service names may hold only letters, digits, '_', '-', '.'")
        _reject_unknown(table[name], key, {"numbers", "queue", "language", "notice",
                                           "recording_retention", "history_retention",
                                           "on_objection"})
        numbers, number_languages = reader.numbers(f"{key}.numbers")
        for number in numbers:
            if number in owner_of:
                raise ConfigError(f"{key}.numbers", f"{number} is also a number of "
                                  f"service {owner_of[number]!r}")
            owner_of[number] = name
        services[name] = ServiceConfig(
            name=name,
            numbers=numbers,
            number_languages=number_languages,
            queue=reader.safe_name(f"{key}.queue"),
            language=reader.choice(f"{key}.language", LANGUAGES, None),
            notice=reader.sound(f"{key}.notice", default="callrec/notice"),
            recording_retention=parse_retention(f"{key}.recording_retention",
                                                reader.get(f"{key}.recording_retention")),
            history_retention=parse_retention(
                f"{key}.history_retention",
                reader.get(f"{key}.history_retention", "until erased")),
            on_objection=reader.choice(f"{key}.on_objection", ON_OBJECTION, "record"),
        )
    return services


def _reject_unknown(table: object, key: str, known: set[str]) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(key, "expected a table")
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise ConfigError(where, f"unknown key (known here: {', '.join(sorted(known))})")


_MISSING = object()


class _Reader:
    """Typed access to dotted keys, raising ConfigError with the full key name."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def get(self, key: str, default: object = _MISSING) -> object:
        node: object = self._raw
        for part in key.split("."):
            if not isinstance(node, Mapping):
                raise ConfigError(key, "expected a table above this key")
            if part not in node:
                if default is _MISSING:
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
        value = self.get(key, _MISSING if default is None else default)
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
        if not _SAFE_NAME.match(value):
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
                _reject_unknown(entry, f"{key}[{index}]", {"number", "language"})
                if "language" in entry:
                    languages[number] = _entry_language(entry, f"{key}[{index}]")
            numbers.append(number)
        return tuple(numbers), languages


def _entry_language(entry: Mapping[str, Any], key: str) -> str:
    try:
        return _Reader(entry).choice("language", LANGUAGES, None)
    except ConfigError as exc:
        # The entry's own reader only knows "language"; name the full key.
        raise ConfigError(f"{key}.{exc.key}", exc.problem) from None
