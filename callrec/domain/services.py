"""The services a centre runs, as the call flow and the retention rules see them.

Domain types, free of TOML: :mod:`callrec.config` reads them from the file and validates
them; everything else only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# What the call flow does with a call from a number that objected (GDPR art. 21).
ON_OBJECTION = ("record", "do_not_record")


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
