"""The [web] section of the configuration: defaults, the example's values, and every bad
value named by its key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from callrec.config import WebConfig, load_config, parse_config
from callrec.errors import ConfigError
from callrec.web.server import settings_from

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"


def test_example_web_section() -> None:
    web = load_config(EXAMPLE).web
    assert web == WebConfig(host="127.0.0.1", port=8480, session_minutes=480,
                            cookie_secure=False, lockout_failures=5, lockout_minutes=15,
                            failed_login_delay_ms=500)


def test_without_a_web_section_it_serves_loopback() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    del raw["web"]
    web = parse_config(raw).web
    assert (web.host, web.port) == ("127.0.0.1", 8480)
    settings = settings_from(parse_config(raw))
    assert settings.session_lifetime.total_seconds() == 480 * 60
    assert settings.queues == ("servicedesk", "switchboard")


BAD_WEB = [
    ("port", 0, "web.port"),
    ("port", "8480", "web.port"),
    ("host", "", "web.host"),
    ("host", "127.0.0.1\n", "web.host"),
    ("session_minutes", 1, "web.session_minutes"),
    ("session_minutes", True, "web.session_minutes"),
    ("cookie_secure", "yes", "web.cookie_secure"),
    ("lockout_failures", 0, "web.lockout_failures"),
    ("lockout_minutes", 100_000, "web.lockout_minutes"),
    ("failed_login_delay_ms", -1, "web.failed_login_delay_ms"),
    ("colour", "blue", "web.colour"),
]


@pytest.mark.parametrize(("key", "value", "named"), BAD_WEB,
                         ids=[f"{key}={value!r}" for key, value, _ in BAD_WEB])
def test_bad_web_values_name_their_key(key: str, value: object, named: str) -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["web"] = {**raw["web"], key: value}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert caught.value.key == named
