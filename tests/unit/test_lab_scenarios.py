"""SIPp scenarios rendered per call: hostile caller ids must arrive as sent, and inert."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from callrec.lab.sipp import (
    encode_sip_user,
    from_header,
    quote_display_name,
    render_agent_scenario,
    render_caller_scenario,
    sipp_escape,
)

TONE = Path("/tmp/callrec-lab/caller-tone.wav")
HOSTILE = [
    'Pekka "the boss" Pörhönen',
    "$(reboot)",
    "' OR 1=1 --",
    "; rm -rf / ;",
    "Пётр 李",
    "x" * 300,
    "]]></send><send>INVITE",
    "[call_id] [$var] [field0] \\x41 \\",
    "evil\r\nX-Injected: yes",
]
SIPP_KEYWORDS = {"service", "remote_ip", "remote_port", "transport", "local_ip",
                 "local_port", "branch", "pid", "call_number", "call_id", "len",
                 "local_ip_type", "media_ip_type", "media_ip", "media_port",
                 "last_From:", "last_To:", "last_Via:", "last_Call-ID:", "last_CSeq:"}


def sipp_unescape(text: str) -> str:
    """What SIPp sends for message text holding \\xHH escapes."""
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def unquote(quoted: str) -> str:
    assert quoted.startswith('"') and quoted.endswith('"')
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


def rendered_from_line(xml_text: str) -> str:
    cdata = ET.fromstring(xml_text).find("send")
    assert cdata is not None and cdata.text is not None
    lines = [line.strip() for line in cdata.text.splitlines() if "From:" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_user_part_percent_encoding() -> None:
    assert encode_sip_user("0401234567") == "0401234567"
    assert encode_sip_user("+358 40") == "+358%2040"
    assert encode_sip_user('a"<b>') == "a%22%3Cb%3E"
    assert encode_sip_user("$(reboot)") == "$(reboot)"
    assert encode_sip_user("a;b@c:d") == "a%3Bb%40c%3Ad"
    assert encode_sip_user("李") == "%E6%9D%8E"
    assert encode_sip_user("100%") == "100%25"


def test_display_name_quoting() -> None:
    assert quote_display_name('say "hi"') == '"say \\"hi\\""'
    assert quote_display_name("back\\slash") == '"back\\\\slash"'
    assert quote_display_name("a\r\nb\x00c") == '"a  b c"'


def test_withheld_and_nameless_callers() -> None:
    assert from_header("anonymous", None) == "<sip:anonymous@anonymous.invalid>"
    assert from_header("0401234567", None) == "<sip:0401234567@127.0.0.1>"
    assert from_header("0401234567", "") == '"" <sip:0401234567@127.0.0.1>'
    with pytest.raises(ValueError, match="empty"):
        from_header("", "Name")


def test_sipp_escape_leaves_no_brackets_or_backslashes() -> None:
    escaped = sipp_escape("[a]\\b]]>")
    assert "[" not in escaped and "]" not in escaped
    assert sipp_unescape(escaped) == "[a]\\b]]>"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_caller_ids_render_to_valid_inert_scenarios(value: str) -> None:
    xml_text = render_caller_scenario(value, value, TONE, 1.5)
    line = rendered_from_line(xml_text)  # parses: the CDATA section was not broken

    messages = "".join(send.text or "" for send in ET.fromstring(xml_text).iter("send"))
    keywords = set(re.findall(r"\[([^\]]*)\]", messages))
    assert keywords <= SIPP_KEYWORDS, keywords - SIPP_KEYWORDS
    sent = sipp_unescape(line)
    assert "\r" not in sent and "\n" not in sent
    match = re.fullmatch(r'From: (".*") <sip:([^@<>" ]+)@127\.0\.0\.1>;tag=\[pid\]'
                         r"SIPpTag00\[call_number\]", sent)
    assert match, sent
    expected_name = "".join(" " if ord(c) < 0x20 else c for c in value)
    assert unquote(match.group(1)) == expected_name
    assert match.group(2) == encode_sip_user(value)


def test_durations_and_files_are_written_into_the_scenario() -> None:
    root = ET.fromstring(render_caller_scenario("0401234567", None, TONE, 8.25))
    pause = root.find("pause")
    stream = root.find("nop/action/exec")
    assert pause is not None and pause.get("milliseconds") == "8250"
    assert stream is not None and stream.get("rtp_stream") == f"{TONE},-1,0"


def test_agent_scenario_streams_its_tone_until_bye() -> None:
    root = ET.fromstring(render_agent_scenario(Path("/tmp/agent1-tone.wav")))
    assert [e.tag for e in root] == ["recv", "send", "recv", "nop", "recv", "send"]
    stream = root.find("nop/action/exec")
    assert stream is not None and stream.get("rtp_stream") == "/tmp/agent1-tone.wav,-1,0"
    assert root[2].get("request") == "ACK" and root[2].get("optional") is None


@pytest.mark.parametrize("bad", ["/tmp/a,b.wav", '/tmp/a".wav', "/tmp/a b.wav"])
def test_unsafe_file_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        render_agent_scenario(Path(bad))


def test_non_positive_talk_time_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        render_caller_scenario("1", None, TONE, 0)
