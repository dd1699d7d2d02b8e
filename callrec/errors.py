"""The one error tree of callrec.

Exit statuses and HTTP statuses are mapped at the edges, the CLI (:mod:`callrec.cli`) and
the web middleware (:mod:`callrec.web.middleware`); no exception carries one.

Everything callrec raises on purpose derives from :class:`CallrecError`, so each edge can
turn any of them into a one-line message (CLI) or a clean 4xx/5xx answer (web) without a
traceback. Python's own errors (ValueError, TypeError...) still mean a bug in callrec::

    CallrecError
    ├── ConfigError          bad or missing configuration; ``key`` names the culprit
    ├── InputError           bad input from a user: malformed number, unknown id, bad query
    │   └── PauseRefused     this call's recording cannot be paused or resumed now
    ├── AccessDenied         the acting user may not do this, e.g. export restricted data
    ├── StorageError         the database refused or is unreachable, or its schema is wrong
    ├── RecordingError       a recording file could not be read, probed or removed
    │   ├── RecordingTampered       a sealed recording fails authentication: never played
    │   └── RecordingKeyDestroyed   its key was destroyed (erased, purged): unreadable
    ├── KeyStoreError        the key store or the master key cannot be used
    ├── LabError             the Asterisk lab could not be provisioned or started
    ├── CallerGone           the caller's channel went away in the middle of a step
    ├── AgiProtocolError     a FastAGI peer sent something that is not AGI
    ├── AmiError             talking to Asterisk's manager interface (AMI) failed
    │   ├── AmiConnectionError      no connection, or it broke
    │   ├── AmiCredentialsRejected  the configured AMI username or secret is wrong
    │   ├── AmiProtocolError        what Asterisk sent is not AMI (or too long to be)
    │   └── AmiActionFailed         Asterisk answered an action with Response: Error
    └── AriError             talking to Asterisk's REST interface failed
        ├── AriConnectionError      no connection, or it broke
        ├── AriProtocolError        Asterisk's reply was not what ARI promises (not JSON)
        ├── ApplicationReplaced     another process took over the ARI application
        ├── AriCredentialsRejected  401/403: the configured ARI user or password is wrong
        └── AriHttpError            Asterisk answered with an error status (HTTP or socket)
            └── AriNotFound         404: the channel/playback/... does not exist (any more)
"""

from __future__ import annotations


class CallrecError(Exception):
    """Base of every error callrec raises deliberately."""


StatusTable = tuple[tuple[type[CallrecError], int], ...]


def status_in(table: StatusTable, error: CallrecError, default: int) -> int:
    """The status an edge's table gives ``error``: the first class it is an instance of
    (so a subclass goes before its base), else ``default``."""
    for error_class, status in table:
        if isinstance(error, error_class):
            return status
    return default


class ConfigError(CallrecError):
    """The configuration file is missing, unreadable or wrong; ``key`` names the culprit."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")


class InputError(CallrecError):
    """Bad input from a user (command line or web request); nothing was changed.

    The message is written for that user: it says what was wrong and how to put it right."""


class PauseRefused(InputError):
    """The recording cannot be paused or resumed now: the call is over, not recorded, not
    yet recording, or (for a resume) not paused. Nothing was changed."""


class AccessDenied(CallrecError):
    """The acting user lacks the role this needs; nothing was changed.

    The message may say what was refused (how many calls are restricted): the CLI prints
    it to that user, the web logs it and answers a fixed text."""


class StorageError(CallrecError):
    """The database could not do what was asked: unreachable, refused, at the wrong schema
    revision, or its file or the purge lock beside it could not be opened."""


class RecordingError(CallrecError):
    """A recording file could not be read, probed or deleted, or its stored path is unsafe
    (it would leave the recordings directory)."""


class RecordingTampered(RecordingError):
    """A sealed recording does not authenticate: altered, truncated, damaged or moved over
    another recording's name. None of its audio is handed out."""


class RecordingKeyDestroyed(RecordingError):
    """A sealed recording whose key is gone: its data key or its subject's key was
    destroyed (purge, erasure), or the master key that wrapped it was retired. This is
    crypto-shredding working, not a fault."""


class KeyStoreError(CallrecError):
    """The key store (``[encryption] key_store``) or the master key (file, PKCS#11 token)
    cannot be opened or used: missing, wrong permissions, wrong PIN, not initialised."""


class LabError(CallrecError):
    """The Asterisk lab could not be provisioned, started or reached."""


class CallerGone(CallrecError):
    """The caller's channel disappeared in the middle of a step (they hung up).

    Not a failure: the call flow ends the call as the caller's hangup."""


class AgiProtocolError(CallrecError):
    """A FastAGI connection broke the protocol (cut short, too long, an unexpected reply)."""


class AmiError(CallrecError):
    """A request to Asterisk's manager interface failed; the subclasses say how."""


class AmiConnectionError(AmiError):
    """No connection to AMI, or the connection broke before the answer came."""


class AmiCredentialsRejected(AmiError):
    """AMI refused the Login: the configured username or secret is wrong."""


class AmiProtocolError(AmiError):
    """The manager interface sent something that is not AMI: no banner, a line without
    ``Key: Value``, or a line or message longer than callrec accepts."""


class AmiActionFailed(AmiError):
    """Asterisk answered an action with ``Response: Error`` (e.g. no such channel).

    ``message`` is Asterisk's own ``Message:`` text."""

    def __init__(self, action: str, message: str = "") -> None:
        self.action = action
        self.message = message
        super().__init__(f"AMI {action} failed: {message[:200]}")


class AriError(CallrecError):
    """A request to Asterisk's REST interface failed; the subclasses say how."""


class AriConnectionError(AriError):
    """No connection to ARI, or the connection broke."""


class AriProtocolError(AriError):
    """Asterisk answered, but not in ARI's terms (a reply that is not JSON)."""


class ApplicationReplaced(AriError):
    """Another process registered the same ARI application; this one must stand down."""


class AriCredentialsRejected(AriError):
    """ARI answered 401/403: the configured user or password is wrong."""


class AriHttpError(AriError):
    """ARI answered with an HTTP error status (over HTTP or the REST-over-websocket channel).

    ``status`` is what Asterisk answered, kept for the caller to branch on (404, 409...);
    it is not the status callrec itself answers with at any edge."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"ARI {method} {path} -> {status}: {body[:200]}")


class AriNotFound(AriHttpError):
    """ARI answered 404: the object is gone (typically: the caller hung up)."""
