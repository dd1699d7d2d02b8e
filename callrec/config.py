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

from callrec.config_pause import (
    AMI_KEYS,
    PAUSE_KEYS,
    AmiConfig,
    PauseConfig,
    parse_ami,
    parse_pause,
)
from callrec.config_reader import LANGUAGES, SAFE_NAME, TomlReader, reject_unknown
from callrec.crypto.settings import KEYS as ENCRYPTION_KEYS
from callrec.crypto.settings import EncryptionSettings, parse_encryption
from callrec.domain.services import ON_OBJECTION, Retention, ServiceConfig
from callrec.errors import ConfigError

CONFIG_ENV = "CALLREC_CONFIG"
_RETENTION = re.compile(r"^\s*(\d+)\s*(day|days|week|weeks|month|months|year|years)\s*$")
_FOREVER = ("until erased", "forever")
_DIALPLAN_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")
_HOST = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$")
# Logins as current_actor() reports them: what useradd allows.
_LOGIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
# The keys each top-level table may hold; [services.*] are checked in _parse_services.
_SECTION_KEYS = {
    "ari": {"url", "username", "password", "app", "requests"},
    "ami": AMI_KEYS,
    "pause": PAUSE_KEYS,
    "agi": {"host", "port"},
    "database": {"url"},
    "recordings": {"asterisk_dir", "local_dir", "queue_context", "in_progress_dir",
                   "in_progress_asterisk_dir"},
    "numbers": {"default_country", "timezone"},
    "default": {"service"},
    "logging": {"level"},
    "retention": {"orphan_grace"},
    "rights": {"officers"},
    "encryption": ENCRYPTION_KEYS,
    "web": {"host", "port", "session_minutes", "cookie_secure", "lockout_failures",
            "lockout_minutes", "failed_login_delay_ms"},
}


@dataclass(frozen=True)
class AriConfig:
    url: str = "http://127.0.0.1:8088"
    username: str = "callrec"
    password: str = ""
    app: str = "callrec"
    # "websocket": REST requests ride the events socket once Asterisk answers there
    # (20.14, 21.9, 22.4 and later), HTTP otherwise; "http": always HTTP.
    requests: str = "websocket"


# The FastAGI scripts callrec serves (callrec/agi.py), as the dialplan names them.
AGENT_CONNECTED_SCRIPT = "agent-connected"
CALL_ENDED_SCRIPT = "call-ended"


@dataclass(frozen=True)
class AgiConfig:
    host: str = "127.0.0.1"
    port: int = 4573

    @property
    def agent_connected_url(self) -> str:
        return f"agi://{self.host}:{self.port}/{AGENT_CONNECTED_SCRIPT}"

    @property
    def call_ended_url(self) -> str:
        return f"agi://{self.host}:{self.port}/{CALL_ENDED_SCRIPT}"


@dataclass(frozen=True)
class RecordingsConfig:
    asterisk_dir: str
    local_dir: Path
    queue_context: str = "callrec-queue"
    # Where MixMonitor writes while the call lasts (e.g. a tmpfs), callrec's view and
    # Asterisk's; None: in local_dir itself. docs/encryption.md, "What is sealed".
    in_progress_dir: Path | None = None
    in_progress_asterisk_dir: str | None = None


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
    encryption: EncryptionSettings = field(default_factory=EncryptionSettings)
    ami: AmiConfig | None = None       # None: no [ami], recordings cannot be paused
    pause: PauseConfig = field(default_factory=PauseConfig)
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
    reader = TomlReader(raw)
    reject_unknown(raw, "", {*_SECTION_KEYS, "services"})
    for section, known in _SECTION_KEYS.items():
        if section in raw:
            reject_unknown(raw[section], section, known)
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
    if not _DIALPLAN_SAFE_PATH.match(asterisk_dir):
        # The path reaches MixMonitor() through the dialplan, where ',', '|', '(' or '$'
        # would split or rewrite the application's arguments.
        raise ConfigError("recordings.asterisk_dir",
                          f"{asterisk_dir!r}: use only letters, digits and '/_.-+'")
    in_progress_dir, in_progress_asterisk_dir = _parse_in_progress(reader, base_dir, local_dir)
    database_url = reader.text("database.url", default=default_database_url())
    return Config(
        ari=_parse_ari(reader),
        agi=AgiConfig(host=_parse_agi_host(reader),
                      port=reader.port("agi.port", default=4573)),
        database_url=database_url,
        recordings=RecordingsConfig(
            asterisk_dir=asterisk_dir.rstrip("/") or "/",
            local_dir=local_dir,
            queue_context=reader.safe_name("recordings.queue_context", default="callrec-queue"),
            in_progress_dir=in_progress_dir,
            in_progress_asterisk_dir=in_progress_asterisk_dir,
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
        encryption=parse_encryption(reader, base_dir, local_dir, database_url),
        ami=parse_ami(reader),
        pause=parse_pause(reader),
    )


def _parse_web(reader: TomlReader) -> WebConfig:
    return WebConfig(
        host=reader.text("web.host", default="127.0.0.1"),
        port=reader.port("web.port", default=8480),
        session_minutes=reader.integer("web.session_minutes", 480, 5, 7 * 24 * 60),
        cookie_secure=reader.boolean("web.cookie_secure", default=False),
        lockout_failures=reader.integer("web.lockout_failures", 5, 1, 100),
        lockout_minutes=reader.integer("web.lockout_minutes", 15, 1, 24 * 60),
        failed_login_delay_ms=reader.integer("web.failed_login_delay_ms", 500, 0, 10_000),
    )


def _parse_agi_host(reader: TomlReader) -> str:
    host = reader.text("agi.host", default="127.0.0.1")
    if not _HOST.match(host):
        # Asterisk reaches it through a URL in the dialplan: a host name or an address.
        raise ConfigError("agi.host", f"{host!r} is not a host name or an IP address")
    return host


def _parse_in_progress(reader: TomlReader, base_dir: Path,
                       local_dir: Path) -> tuple[Path | None, str | None]:
    text = reader.get("recordings.in_progress_dir", None)
    if text is None:
        if reader.get("recordings.in_progress_asterisk_dir", None) is not None:
            raise ConfigError("recordings.in_progress_asterisk_dir",
                              "set only together with recordings.in_progress_dir")
        return None, None
    directory = Path(reader.text("recordings.in_progress_dir"))
    if not directory.is_absolute():
        directory = (base_dir / directory).resolve()
    if directory.resolve() == local_dir.resolve() or \
            directory.resolve().is_relative_to(local_dir.resolve()) or \
            local_dir.resolve().is_relative_to(directory.resolve()):
        raise ConfigError("recordings.in_progress_dir", f"{directory} must lie apart from "
                          "recordings.local_dir (neither inside the other)")
    seen_by_asterisk = reader.text("recordings.in_progress_asterisk_dir",
                                   default=str(directory))
    if not seen_by_asterisk.startswith("/") or not _DIALPLAN_SAFE_PATH.match(seen_by_asterisk):
        raise ConfigError("recordings.in_progress_asterisk_dir", f"{seen_by_asterisk!r}: "
                          "an absolute path of letters, digits and '/_.-+'")
    return directory, seen_by_asterisk.rstrip("/") or "/"


def _parse_ari(reader: TomlReader) -> AriConfig:
    url = reader.text("ari.url", default="http://127.0.0.1:8088")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("ari.url", f"{url!r} is not an http(s) URL")
    return AriConfig(url=url.rstrip("/"), username=reader.text("ari.username"),
                     password=reader.text("ari.password"),
                     app=reader.safe_name("ari.app", default="callrec"),
                     requests=reader.choice("ari.requests", ("websocket", "http"),
                                            default="websocket"))


def _parse_officers(reader: TomlReader) -> tuple[str, ...]:
    value = reader.get("rights.officers", [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError("rights.officers", 'expected a list of logins, e.g. ["dpo"]')
    for login in value:
        if not _LOGIN.match(login):
            raise ConfigError("rights.officers", f"{login!r} is not a login name")
    return tuple(value)


def _parse_region(reader: TomlReader) -> str:
    region = reader.text("numbers.default_country", default="FI").upper()
    if not re.fullmatch(r"[A-Z]{2}", region):
        raise ConfigError("numbers.default_country", f"{region!r} is not a two-letter country code")
    return region


def _parse_timezone(reader: TomlReader) -> ZoneInfo:
    name = reader.text("numbers.timezone", default="Europe/Helsinki")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("numbers.timezone", f"unknown time zone {name!r}") from None


def _parse_services(reader: TomlReader) -> dict[str, ServiceConfig]:
    table = reader.table("services")
    if not table:
        raise ConfigError("services", "at least one service is needed")
    services: dict[str, ServiceConfig] = {}
    owner_of: dict[str, str] = {}
    for name in table:
        key = f"services.{name}"
        if not SAFE_NAME.match(name):
            raise ConfigError(key, "service names may hold only letters, digits, '_', '-', '.'")
        reject_unknown(table[name], key, {"numbers", "queue", "language", "notice",
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
