"""The one error tree of callrec.

Everything callrec raises on purpose derives from :class:`CallrecError`, so the CLI can
turn any of them into a one-line message and a non-zero exit without a traceback::

    CallrecError
    ├── ConfigError          bad or missing configuration (exit status 2)
    ├── InputError           bad command-line input: malformed number, unknown id (exit 2)
    ├── AccessDenied         the acting user may not do this, e.g. export restricted data (3)
    ├── StorageError         the database refused or is unreachable
    ├── RecordingError       a recording file could not be read, probed or removed
    ├── LabError             the Asterisk lab could not be provisioned or started
    ├── CallerGone           the caller's channel went away in the middle of a step
    ├── AgiProtocolError     a FastAGI peer sent something that is not AGI
    └── AriError             talking to Asterisk's REST interface failed
        ├── AriConnectionError   no connection, or it broke
        ├── AriProtocolError     Asterisk's reply was not what ARI promises (e.g. not JSON)
        ├── ApplicationReplaced  another process took over the ARI application
        ├── AriCredentialsRejected  401/403: the configured ARI user or password is wrong
        └── AriHttpError         Asterisk answered with an error status (HTTP or socket)
            └── AriNotFound      404: the channel/playback/... does not exist (any more)
"""

from __future__ import annotations


class CallrecError(Exception):
    """Base of every error callrec raises deliberately."""

    exit_status = 1


class ConfigError(CallrecError):
    """The configuration file is missing, unreadable or wrong; ``key`` names the culprit."""

    exit_status = 2

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")


class InputError(CallrecError):
    """Bad input on the command line; nothing was changed."""

    exit_status = 2


class AccessDenied(CallrecError):
    """The acting user lacks the role this needs; nothing was changed."""

    exit_status = 3


class StorageError(CallrecError):
    """The database could not do what was asked."""


class RecordingError(CallrecError):
    """A recording file could not be read, probed or deleted."""


class LabError(CallrecError):
    """The Asterisk lab could not be provisioned, started or reached."""


class CallerGone(CallrecError):
    """The caller's channel disappeared in the middle of a step (they hung up).

    Not a failure: the call flow ends the call as the caller's hangup."""


class AgiProtocolError(CallrecError):
    """A FastAGI connection broke the protocol (cut short, too long, an unexpected reply)."""


class AriError(CallrecError):
    """A request to Asterisk's REST interface failed."""


class AriConnectionError(AriError):
    """No connection to ARI, or the connection broke."""


class AriProtocolError(AriError):
    """Asterisk answered, but not in ARI's terms (a reply that is not JSON)."""


class ApplicationReplaced(AriError):
    """Another process registered the same ARI application; this one must stand down."""


class AriCredentialsRejected(AriError):
    """ARI answered 401/403: the configured user or password is wrong."""


class AriHttpError(AriError):
    """ARI answered with an HTTP error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"ARI {method} {path} -> {status}: {body[:200]}")


class AriNotFound(AriHttpError):
    """ARI answered 404: the object is gone (typically: the caller hung up)."""
