"""The error tree of callrec.errors: drawn completely in its docstring, free of statuses,
and every class mapped to the exit status and HTTP status its edge documents."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
from collections.abc import Iterator

import pytest

import callrec.cli
from callrec import errors
from callrec.cli import exit_status_for, main
from callrec.errors import (
    AccessDenied,
    AgiProtocolError,
    AmiActionFailed,
    AmiConnectionError,
    AmiCredentialsRejected,
    AmiError,
    AmiProtocolError,
    ApplicationReplaced,
    AriConnectionError,
    AriCredentialsRejected,
    AriError,
    AriHttpError,
    AriNotFound,
    AriProtocolError,
    CallerGone,
    CallrecError,
    ConfigError,
    InputError,
    KeyStoreError,
    LabError,
    PauseRefused,
    RecordingError,
    RecordingKeyDestroyed,
    RecordingTampered,
    StorageError,
)
from callrec.web.middleware import http_status_for

# (exit status of the CLI, HTTP status of the web app) for every class of the tree. A new
# class fails test_every_class_has_documented_statuses until someone decides both here.
DOCUMENTED = {
    CallrecError: (1, 503),
    ConfigError: (2, 500),
    InputError: (2, 400),
    AccessDenied: (3, 403),
    StorageError: (1, 503),
    RecordingError: (1, 500),
    RecordingTampered: (1, 500),
    RecordingKeyDestroyed: (1, 500),
    KeyStoreError: (1, 500),
    LabError: (1, 503),
    CallerGone: (1, 503),
    AgiProtocolError: (1, 503),
    PauseRefused: (2, 400),
    AmiError: (1, 503),
    AmiConnectionError: (1, 503),
    AmiCredentialsRejected: (1, 503),
    AmiActionFailed: (1, 503),
    AmiProtocolError: (1, 503),
    AriError: (1, 503),
    AriConnectionError: (1, 503),
    AriProtocolError: (1, 503),
    ApplicationReplaced: (1, 503),
    AriCredentialsRejected: (1, 503),
    AriHttpError: (1, 503),
    AriNotFound: (1, 503),
}
# One line of the drawing, e.g. "    │   ├── AriNotFound      404: ...". Each level of the
# drawing moves the name four columns to the right.
TREE_LINE = re.compile(r"^[ │├└─]*(?P<name>[A-Z]\w+)\b")


def tree() -> Iterator[type[CallrecError]]:
    """CallrecError and every subclass of it, however deep."""
    pending: list[type[CallrecError]] = [CallrecError]
    while pending:
        cls = pending.pop()
        yield cls
        pending.extend(cls.__subclasses__())


def instance_of(cls: type[CallrecError]) -> CallrecError:
    if issubclass(cls, AriHttpError):
        return cls("GET", "/channels/1", 500, "boom")
    if issubclass(cls, ConfigError):
        return cls("web.port", "expected a port number")
    return cls("boom")


def drawn_parents() -> dict[str, str | None]:
    """Each class name in the module docstring's drawing, with the name it hangs from."""
    drawing = errors.__doc__.split("::", 1)[1] if errors.__doc__ else ""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    lines = drawing.strip("\n").splitlines()
    root_column = len(lines[0]) - len(lines[0].lstrip())
    for line in lines:
        match = TREE_LINE.match(line)
        assert match is not None, f"not a line of the tree: {line!r}"
        del path[(match.start("name") - root_column) // 4:]
        parents[match["name"]] = path[-1] if path else None
        path.append(match["name"])
    return parents


def test_the_tree_holds_every_error_callrec_defines() -> None:
    # Load every module an error class could hide in (__main__ would run the CLI).
    for module in pkgutil.walk_packages(callrec.__path__, "callrec."):
        if module.name != "callrec.__main__":
            importlib.import_module(module.name)
    outside = [f"{cls.__module__}.{cls.__qualname__}" for cls in tree()
               if cls.__module__ != "callrec.errors"]
    assert outside == []


def test_the_docstring_draws_every_class_under_its_base() -> None:
    drawn = {cls.__name__: (None if cls is CallrecError else cls.__bases__[0].__name__)
             for cls in tree()}
    assert drawn_parents() == drawn


def test_the_docstring_says_where_statuses_are_mapped() -> None:
    summary = (errors.__doc__ or "").split("\n\n")[1]
    assert "callrec.cli" in summary and "callrec.web.middleware" in summary


def test_every_class_has_documented_statuses() -> None:
    assert set(tree()) == set(DOCUMENTED)


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda cls: cls.__name__)
def test_each_edge_maps_the_class_to_its_documented_status(cls: type[CallrecError]) -> None:
    error = instance_of(cls)
    assert (exit_status_for(error), http_status_for(error)) == DOCUMENTED[cls]


def test_the_statuses_that_scripts_and_clients_branch_on() -> None:
    assert exit_status_for(AccessDenied("no")) == 3
    assert exit_status_for(ConfigError("web.port", "bad")) == 2
    assert exit_status_for(InputError("bad")) == 2
    assert http_status_for(AccessDenied("no")) == 403


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda cls: cls.__name__)
def test_no_error_carries_a_status(cls: type[CallrecError]) -> None:
    # AriHttpError's instances keep the status *Asterisk* answered (``status``): data to
    # branch on, set in __init__, never a status of callrec's own edges.
    error = instance_of(cls)
    for name in ("exit_status", "status", "http_status", "status_code"):
        assert not hasattr(cls, name), f"{cls.__name__}.{name}"
    for name in ("exit_status", "http_status", "status_code"):
        assert not hasattr(error, name), f"{cls.__name__}().{name}"


def raising_parser(error: BaseException) -> argparse.ArgumentParser:
    """A parser whose one sub-command raises ``error``, to drive main() without a database."""
    def handler(args: argparse.Namespace) -> int:
        raise error

    parser = argparse.ArgumentParser(prog="callrec")
    parser.add_subparsers(required=True).add_parser("fail").set_defaults(handler=handler)
    return parser


@pytest.mark.parametrize(("error", "status"), [
    (AccessDenied("3 of these calls are restricted (art. 18)"), 3),
    (InputError("--limit must be 1-500"), 2),
    (ConfigError("web.port", "expected a port number"), 2),
    (StorageError("database is locked"), 1),
    (AriConnectionError("no connection to ARI"), 1),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value))
def test_main_prints_one_line_and_exits_with_the_mapped_status(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: CallrecError, status: int) -> None:
    monkeypatch.setattr(callrec.cli, "build_parser", lambda: raising_parser(error))
    assert main(["fail"]) == status
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"callrec: {error}\n")


def test_main_exits_130_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callrec.cli, "build_parser", lambda: raising_parser(KeyboardInterrupt()))
    assert main(["fail"]) == 130
