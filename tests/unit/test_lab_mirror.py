"""Where the lab's debootstrap finds Debian: the host's apt sources, parsed without I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrec.errors import LabError
from callrec.lab.asterisk import (
    find_debian_mirror,
    parse_account_id,
    parse_deb822_mirror,
    parse_sources_list_mirror,
)

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_takes_the_main_archive_not_security() -> None:
    assert parse_deb822_mirror(DEB822) == "http://mirror.example/debian"


def test_deb822_security_first_is_skipped() -> None:
    security, main = DEB822.split("\n\n")
    assert parse_deb822_mirror(main + "\n\n" + security) == "http://mirror.example/debian"


def test_deb822_skips_disabled_source_only_and_non_http() -> None:
    text = """\
Types: deb
URIs: http://disabled.example/debian
Suites: sid
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: sid

Types: deb
URIs: cdrom:/media/cdrom/ https://good.example/debian
Suites: trixie
"""
    assert parse_deb822_mirror(text) == "https://good.example/debian"


def test_deb822_continuation_lines_and_case() -> None:
    text = "types: deb\nuris:\n http://cont.example/debian\nsuites: bookworm\n"
    assert parse_deb822_mirror(text) == "http://cont.example/debian"


def test_deb822_without_usable_stanza() -> None:
    assert parse_deb822_mirror("") is None
    assert parse_deb822_mirror("Types: deb\nURIs: http://x.example/s\n"
                               "Suites: bookworm-security\n") is None


def test_sources_list_with_options_comments_and_security() -> None:
    text = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://list.example/debian bookworm main
"""
    assert parse_sources_list_mirror(text) == "http://list.example/debian"


def test_sources_list_old_style_updates_suite() -> None:
    text = "deb http://security.example/ bookworm/updates main\n"
    assert parse_sources_list_mirror(text) is None


def test_find_debian_mirror_falls_back_and_strips_slash(tmp_path: Path) -> None:
    missing = tmp_path / "debian.sources"
    listing = tmp_path / "sources.list"
    listing.write_text("deb http://fallback.example/debian/ sid main\n")
    assert find_debian_mirror((missing, listing)) == "http://fallback.example/debian"


def test_find_debian_mirror_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no Debian mirror found"):
        find_debian_mirror((tmp_path / "none.sources",))


def test_account_ids_from_passwd_and_group() -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nasterisk:x:101:102::/var/lib/asterisk:/x\n"
    assert parse_account_id(passwd, "asterisk") == 101
    assert parse_account_id("asterisk:x:102:\n", "asterisk") == 102
    with pytest.raises(LabError, match="no account 'asterisk'"):
        parse_account_id("asteriskx:x:5:\n", "asterisk")
