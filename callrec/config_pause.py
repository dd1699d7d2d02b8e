"""The ``[ami]`` and ``[pause]`` sections: Asterisk's manager interface (which the secure
pause mutes recordings through) and the pause's limit. Kept apart from config.py so the
pause feature's settings read as one piece."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from callrec.config_reader import TomlReader
from callrec.errors import ConfigError

AMI_KEYS = {"host", "port", "username", "password"}
PAUSE_KEYS = {"max_minutes"}
DEFAULT_MAX_MINUTES = 3.0
# Short limits are for tests; past an hour a "pause" is an unrecorded call.
_MAX_MINUTES_RANGE = (0.05, 60.0)


@dataclass(frozen=True)
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callrec"
    password: str = ""


@dataclass(frozen=True)
class PauseConfig:
    max_minutes: float = DEFAULT_MAX_MINUTES

    @property
    def max_duration(self) -> timedelta:
        return timedelta(minutes=self.max_minutes)


def parse_ami(reader: TomlReader) -> AmiConfig | None:
    """None when there is no ``[ami]`` section: recordings cannot be paused then."""
    if not reader.table("ami"):
        return None
    host = reader.text("ami.host", default="127.0.0.1")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        # AMI sends its secret and every action in clear text: it stays on this machine.
        raise ConfigError("ami.host", f"{host!r}: AMI must be reached on a loopback "
                          "address (127.0.0.1 or ::1); bind manager.conf there too")
    return AmiConfig(host=host, port=reader.port("ami.port", default=5038),
                     username=reader.text("ami.username", default="callrec"),
                     password=reader.text("ami.password"))


def parse_pause(reader: TomlReader) -> PauseConfig:
    value = reader.get("pause.max_minutes", DEFAULT_MAX_MINUTES)
    low, high = _MAX_MINUTES_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError("pause.max_minutes",
                          f"expected a number of minutes {low}-{high:.0f}, got {value!r}")
    return PauseConfig(max_minutes=float(value))
