from __future__ import annotations

from pathlib import Path

import pytest

from callrec.cli import main
from callrec.config import load_config, parse_retention
from callrec.domain.services import Retention
from callrec.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "callrec.example.toml"


def write_variant(tmp_path: Path, old: str, new: str) -> Path:
    """The example file with one exact piece of text replaced (which must be there)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in the example"
    path = tmp_path / "callrec.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_example_file_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.source == EXAMPLE
    assert config.default_region == "FI"
    assert config.default_service == "servicedesk"
    assert set(config.services) == {"servicedesk", "switchboard"}
    servicedesk = config.services["servicedesk"]
    assert servicedesk.recording_retention == Retention(months=2)
    assert servicedesk.history_retention == Retention(forever=True)
    assert servicedesk.language_for("0201234501") == "en"
    assert servicedesk.language_for("0201234500") == "fi"
    assert config.service_for_number("0295504001") == (config.services["switchboard"], True)
    assert config.service_for_number("999") == (servicedesk, False)


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLREC_CONFIG", str(EXAMPLE))
    assert load_config().source == EXAMPLE
    monkeypatch.delenv("CALLREC_CONFIG")
    with pytest.raises(ConfigError, match="CALLREC_CONFIG"):
        load_config()


BAD_CASES = [
    # (id, text in the example, replacement, key the error must name)
    ("missing key", 'queue = "servicedesk"\n', "", "services.servicedesk.queue"),
    ("missing password", 'password = "callrec-example-password"', "", "ari.password"),
    ("wrong type", "port = 4573", 'port = "4573"', "agi.port"),
    ("port out of range", "port = 4573", "port = 70000", "agi.port"),
    ("retention typo", 'retention = "2 months"', 'retention = "2 monthz"',
     "services.servicedesk.recording_retention"),
    ("zero retention", 'retention = "2 months"', 'retention = "0 days"',
     "services.servicedesk.recording_retention"),
    ("retention not text", '"6 months"', "6", "services.switchboard.recording_retention"),
    ("unknown top-level key", "[ari]", "colour = 1\n[ari]", "colour"),
    ("unknown key in a section", 'app = "callrec"', 'app = "callrec"\ncolour = "blue"',
     "ari.colour"),
    ("unknown key in a service", 'notice = "callrec/notice"          #',
     'colour = "blue"\nnotice = "callrec/notice"  #', "services.servicedesk.colour"),
    ("duplicate number", '"0295504000"', '"0201234500"', "services.switchboard.numbers"),
    ("unknown language", 'language = "fi"\nnotice = "callrec/notice"          #',
     'language = "de"\nnotice = "callrec/notice"  #', "services.servicedesk.language"),
    ("unknown number language", 'language = "en" }', 'language = "de" }',
     "services.servicedesk.numbers[1].language"),
    ("unsafe queue", 'queue = "servicedesk"', 'queue = "q,evil"', "services.servicedesk.queue"),
    ("bad ari URL", 'url = "http://127.0.0.1:8088"', 'url = "ftp://127.0.0.1"', "ari.url"),
    ("bad dialled number", '"0295504000"', '"0295;504000"', "services.switchboard.numbers"),
    ("unknown default service", 'service = "servicedesk"', 'service = "nope"',
     "default.service"),
    ("bad country", 'default_country = "FI"', 'default_country = "Finland"',
     "numbers.default_country"),
    ("bad time zone", '"Europe/Helsinki"', '"Europe/Atlantis"', "numbers.timezone"),
    ("relative asterisk dir", 'asterisk_dir = "/var/spool/asterisk/callrec"',
     'asterisk_dir = "spool"', "recordings.asterisk_dir"),
    ("bad log level", 'level = "info"', 'level = "chatty"', "logging.level"),
    ("dialplan-unsafe asterisk dir", 'asterisk_dir = "/var/spool/asterisk/callrec"',
     'asterisk_dir = "/var/spool/a|b,c"', "recordings.asterisk_dir"),
    ("unknown ARI request transport", 'requests = "websocket"', 'requests = "carrier pigeon"',
     "ari.requests"),
    ("bad agi host", 'end of the call).\nhost = "127.0.0.1"',
     'end of the call).\nhost = "a/b|c"',
     "agi.host"),
    ("ami off loopback", 'host = "127.0.0.1"\nport = 5038', 'host = "192.0.2.1"\nport = 5038',
     "ami.host"),
    ("ami password missing", 'password = "callrec-ami-example-password"', "",
     "ami.password"),
    ("ami port out of range", "port = 5038", "port = 0", "ami.port"),
    ("pause max zero", "max_minutes = 3", "max_minutes = 0", "pause.max_minutes"),
    ("pause max text", "max_minutes = 3", 'max_minutes = "3"', "pause.max_minutes"),
    ("unknown pause key", "max_minutes = 3", "max_minutes = 3\ncolour = 1", "pause.colour"),
]


@pytest.mark.parametrize(("old", "new", "key"), [case[1:] for case in BAD_CASES],
                         ids=[case[0] for case in BAD_CASES])
def test_bad_config_names_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"config: {key}: ")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "[logging]", "[logging")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="no such file") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("2 months", Retention(months=2)), ("1 month", Retention(months=1)),
    ("90 days", Retention(days=90)), ("2 weeks", Retention(days=14)),
    ("1 year", Retention(months=12)), ("  3 Years ", Retention(months=36)),
    ("until erased", Retention(forever=True)), ("Forever", Retention(forever=True)),
])
def test_retention_forms(text: str, expected: Retention) -> None:
    assert parse_retention("k", text) == expected


@pytest.mark.parametrize("text", ["2 monthz", "0 days", "-1 days", "two months", "", "2"])
def test_bad_retention(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_retention("services.x.recording_retention", text)
    assert caught.value.key == "services.x.recording_retention"


@pytest.mark.parametrize(("old", "new", "key"), [
    ('retention = "2 months"', 'retention = "2 monthz"',
     "services.servicedesk.recording_retention"),
    ('queue = "servicedesk"', 'queue = "q,evil"', "services.servicedesk.queue"),
    ("[logging]", "[logging", "not valid TOML"),
])
def test_cli_reports_bad_config_in_one_line_with_status_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str,
        key: str) -> None:
    path = write_variant(tmp_path, old, new)
    assert main(["--config", str(path), "calls"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("callrec: config: ")
    assert key in lines[0]


def test_cli_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "absent.toml"), "db", "current"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"callrec: config: {tmp_path / 'absent.toml'}: no such file")


# --- Data-subject rights: on_objection and [rights] officers ----------------------------------


def test_example_on_objection_and_officers() -> None:
    config = load_config(EXAMPLE)
    assert {name: service.on_objection for name, service in config.services.items()} == {
        "servicedesk": "record", "switchboard": "record"}
    assert config.rights_officers == ("dpo",)


def test_on_objection_do_not_record_and_defaults(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'on_objection = "record"            #',
                         'on_objection = "do_not_record"  #')
    config = load_config(path)
    assert config.services["switchboard"].on_objection == "do_not_record"
    assert config.services["servicedesk"].on_objection == "record"
    bare = write_variant(tmp_path, 'officers = ["dpo"]\n', "")
    assert load_config(bare).rights_officers == ()


def test_on_objection_missing_means_record(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'on_objection = "record"\n', "")
    assert load_config(path).services["servicedesk"].on_objection == "record"


@pytest.mark.parametrize(("old", "new", "key"), [
    ('on_objection = "record"\n', 'on_objection = "skip"\n',
     "services.servicedesk.on_objection"),
    ('on_objection = "record"\n', "on_objection = true\n", "services.servicedesk.on_objection"),
    ('officers = ["dpo"]', 'officers = "dpo"', "rights.officers"),
    ('officers = ["dpo"]', "officers = [1]", "rights.officers"),
    ('officers = ["dpo"]', 'officers = ["dpo; rm -rf /"]', "rights.officers"),
    ('officers = ["dpo"]', 'officers = ["dpo"]\nauditors = []', "rights.auditors"),
])
def test_bad_rights_config_names_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_variant(tmp_path, old, new))
    assert caught.value.key == key


def test_ami_and_pause_sections(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    assert config.ami is not None
    assert (config.ami.host, config.ami.port, config.ami.username) == (
        "127.0.0.1", 5038, "callrec")
    assert config.pause.max_duration.total_seconds() == 180
    short = load_config(write_variant(tmp_path, "max_minutes = 3", "max_minutes = 0.1"))
    assert short.pause.max_duration.total_seconds() == pytest.approx(6)


def test_without_an_ami_section_pausing_is_off(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = text.index("[ami]"), text.index("[pause]")
    path = tmp_path / "callrec.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    assert load_config(path).ami is None
