from __future__ import annotations

import pytest

from callrec.domain.numbers import CallerNumber, normalise_caller, parse_subject_number
from callrec.errors import InputError

HOSTILE = [
    '"0401234567"',
    "0401234567;reboot",
    "$(reboot)",
    "'; DROP TABLE calls; --",
    "9" * 300,
    "Пётр 李 محمد",
    "📞0401234567",
    "\x1b[31m0401234567",
    "tel:+358401234567",
    "sip:0401234567@evil.example",
    "040 123 4567 ext 5",
    "٠٤٠١٢٣٤٥٦٧",          # Arabic-Indic digits: not what a trunk sends
    "+358+401234567",
    "040\n1234567",
]


@pytest.mark.parametrize("raw", [
    "+358 40 123 4567", "+358401234567", "0401234567", "00358401234567", "040-123 4567",
    "(040) 1234567", "  0401234567  ",
])
def test_finnish_forms_normalise_to_e164(raw: str) -> None:
    assert normalise_caller(raw, "FI") == CallerNumber(raw=raw, e164="+358401234567",
                                                       withheld=False)


def test_digits_without_plus_read_as_international_when_not_a_national_number() -> None:
    assert normalise_caller("358401234567", "FI").e164 == "+358401234567"
    assert normalise_caller("12025550143", "FI").e164 == "+12025550143"


def test_digits_without_plus_stay_national_when_valid_there() -> None:
    # "2025550143" is a valid US national number: no country code is guessed from it.
    assert normalise_caller("2025550143", "US").e164 == "+12025550143"
    assert normalise_caller("401234567", "FI").e164 == "+358401234567"


def test_another_default_region_reads_national_numbers_there() -> None:
    assert normalise_caller("030 1234567", "DE").e164 == "+49301234567"


@pytest.mark.parametrize("raw", [
    None, "", "   ", "anonymous", "Anonymous", " RESTRICTED ", "unavailable", "Unknown",
    "private", "Withheld",
])
def test_withheld_markers(raw: str | None) -> None:
    assert normalise_caller(raw, "FI") == CallerNumber(raw=raw, e164=None, withheld=True)


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_text_is_kept_raw_and_never_becomes_a_number(raw: str) -> None:
    assert normalise_caller(raw, "FI") == CallerNumber(raw=raw, e164=None, withheld=False)


@pytest.mark.parametrize("raw", ["1", "12", "+", "()", "--", "0", "112"])
def test_too_short_to_be_a_subscriber_number(raw: str) -> None:
    assert normalise_caller(raw, "FI").e164 is None


def test_bad_region_does_not_raise() -> None:
    assert normalise_caller("0401234567", "ZZ").e164 is None
    assert normalise_caller("+358401234567", "ZZ").e164 == "+358401234567"


@pytest.mark.parametrize("text", [
    "+358 40 123 4567", "0401234567", "00358401234567", "040-123 4567", "(040) 1234567",
])
def test_subject_number_forms(text: str) -> None:
    assert parse_subject_number(text, "FI") == "+358401234567"


@pytest.mark.parametrize("text", ["", "anonymous", "040 123 abc", "112", "+358", *HOSTILE])
def test_subject_number_rejects_anything_else_naming_the_text(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_subject_number(text, "FI")
    message = str(caught.value)
    assert repr(text) in message
    assert "+358 40 123 4567" in message
