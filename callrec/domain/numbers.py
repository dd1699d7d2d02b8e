"""Phone numbers: what the trunk delivered, and the E.164 form the register searches by.

Caller ids come from the outside world and may be anything, so :func:`normalise_caller`
never raises and keeps the delivered text untouched. Numbers typed by staff for a
data-subject request go through :func:`parse_subject_number`, which refuses what it cannot
read instead of guessing.

Trunks often deliver international numbers without the leading '+' ("358401234567").
Such digits are read as a national number of the default region first; only if that is
not a valid number there but the same digits with a '+' are a valid international number
is the international reading taken. A Finnish national number always starts with 0 (a
trunk prefix), so for the default region FI the two readings cannot collide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from callrec.errors import InputError

WITHHELD_MARKERS = frozenset(
    {"anonymous", "restricted", "unavailable", "unknown", "private", "withheld"}
)
# Only text made of what people and trunks put in numbers; anything else (letters, ';',
# quotes, URIs) is not a number, even if phonenumbers could dig digits out of it.
_PLAUSIBLE_NUMBER = re.compile(r"^\+?[0-9 ()-]{2,40}$")
_MIN_DIGITS = 3


@dataclass(frozen=True)
class CallerNumber:
    raw: str | None       # exactly as delivered
    e164: str | None      # None when withheld or not readable as a number
    withheld: bool


def normalise_caller(raw: str | None, region: str) -> CallerNumber:
    """Read a delivered caller id; never raises, whatever the trunk sent."""
    if raw is None or raw.strip().lower() in WITHHELD_MARKERS | {""}:
        return CallerNumber(raw=raw, e164=None, withheld=True)
    return CallerNumber(raw=raw, e164=to_e164(raw, region), withheld=False)


def parse_subject_number(text: str, region: str) -> str:
    """E.164 form of a number typed by staff, e.g. "040-123 4567" -> "+358401234567"."""
    e164 = to_e164(text, region)
    if e164 is None:
        raise InputError(
            f"{text!r} is not a phone number: expected e.g. +358 40 123 4567, "
            f"0401234567 or 00358401234567 (digits, spaces, '-', '()' and a leading '+')"
        )
    return e164


def to_e164(text: str, region: str) -> str | None:
    """E.164 form of ``text`` when it plausibly is a possible number, else None."""
    stripped = text.strip()
    if not _PLAUSIBLE_NUMBER.match(stripped):
        return None
    if sum(ch.isdigit() for ch in stripped) < _MIN_DIGITS:
        return None
    national = _parse(stripped, region)
    for number in (_missing_plus(stripped, region, national), national):
        if number is not None and phonenumbers.is_possible_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


def _missing_plus(digits: str, region: str,
                  national: phonenumbers.PhoneNumber | None) -> phonenumbers.PhoneNumber | None:
    """The international reading of digits a trunk sent without '+', if it is the better one."""
    if digits.startswith(("+", "0")):
        return None
    if national is not None and phonenumbers.is_valid_number(national):
        return None
    international = _parse("+" + digits, region)
    if international is None or not phonenumbers.is_valid_number(international):
        return None
    return international


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
