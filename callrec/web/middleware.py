"""Every request passes here: errors become clean 4xx/5xx answers (:data:`HTTP_STATUS` is
where each error of the callrec tree gets its status), the user is recognised
(bearer token or session cookie), cross-site writes are refused, and every response gets
headers that keep personal data out of caches and foreign frames.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from callrec.access.credentials import same_secret, secret_hash
from callrec.access.roles import Principal
from callrec.errors import (
    AccessDenied,
    CallrecError,
    ConfigError,
    InputError,
    KeyStoreError,
    RecordingError,
    StatusTable,
    StorageError,
    status_in,
)
from callrec.web.context import AUTH_KEY, Auth, auth_of, context_of
from callrec.web.render import error_page

SESSION_COOKIE = "callrec_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
MAX_SECRET = 200
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The one place where an error from the tree gets its HTTP status. Walked in order, the
# first class the error is an instance of wins: put a subclass before its base.
HTTP_STATUS: StatusTable = (
    (InputError, 400),      # the request is wrong; its message tells the user how
    (AccessDenied, 403),    # a known user without the role: 403, never a 5xx to retry
    # 500, not 503: a wrong configuration or an unreadable or unsafe recording file is a
    # fault on this server that stays until someone fixes it; 503 would invite retries.
    (ConfigError, 500),
    (RecordingError, 500),  # the player answers 409/410 itself (callrec.web.streaming)
    (KeyStoreError, 500),   # the key store or master key is missing or unusable
    (StorageError, 503),    # the database is down or refusing: usually passes, retry later
)
# The rest of the tree (Asterisk, ARI...) is a service this one needs and cannot reach.
OTHER_ERROR_STATUS = 503
# Only InputError's own message reaches the client: the others may name paths, database
# URLs, or (AccessDenied) how many restricted calls a number has. Those go to the log.
_CLIENT_MESSAGE = {
    403: "you are not allowed to do this",
    500: "the server cannot answer this: its operators must fix it (see its log)",
    503: "the service cannot answer right now",
}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'")


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(request, exc.status, exc.reason, dict(exc.headers))
    except CallrecError as exc:
        status = http_status_for(exc)
        log = structlog.get_logger("callrec.web")
        if status >= 500:
            log.error("request_failed", path=request.path, error=str(exc))
        elif status == 403:
            log.warning("request_denied", path=request.path, error=str(exc))
        return _error(request, status, _client_message(exc, status))


def http_status_for(error: CallrecError) -> int:
    return status_in(HTTP_STATUS, error, OTHER_ERROR_STATUS)


def _client_message(error: CallrecError, status: int) -> str:
    if isinstance(error, InputError):
        return str(error)
    return _CLIENT_MESSAGE.get(status, _CLIENT_MESSAGE[OTHER_ERROR_STATUS])


def _error(request: web.Request, status: int, message: str,
           headers: dict[str, str] | None = None) -> web.StreamResponse:
    kept = {k: v for k, v in (headers or {}).items()
            if k in ("WWW-Authenticate", "Retry-After", "Allow", "Location")}
    if is_api(request):
        return web.json_response({"error": message}, status=status, headers=kept)
    return error_page(request, status, message, kept)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    context = context_of(request)
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        principal = None
        if scheme.lower() == "bearer" and 0 < len(token) <= MAX_SECRET:
            principal = await context.run(context.credentials.token_principal,
                                          secret_hash(token), context.clock())
        if principal is None:
            raise web.HTTPUnauthorized(reason="invalid or revoked API token",
                                       headers={"WWW-Authenticate": "Bearer"})
        request[AUTH_KEY] = Auth(principal, "token")
        return await handler(request)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if 0 < len(session_id) <= MAX_SECRET:
        principal = await context.run(context.credentials.session_principal,
                                      secret_hash(session_id), context.clock())
        if principal is not None:
            request[AUTH_KEY] = Auth(principal, "session", session_id)
    if request.method not in _SAFE_METHODS:
        _refuse_cross_site(request)
        if auth_of(request).via == "session":
            await _check_csrf(request, auth_of(request))
    return await handler(request)


def _refuse_cross_site(request: web.Request) -> None:
    """SameSite=Strict already keeps the cookie off cross-site requests; this also stops
    a login or logout being forced from another site."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(reason="cross-site request refused")


async def _check_csrf(request: web.Request, auth: Auth) -> None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if given is None or not same_secret(given, auth.csrf):
        raise web.HTTPForbidden(reason="missing or wrong CSRF token: reload the page")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Cache-Control", "no-store")
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # Not "no-referrer": with it browsers send "Origin: null" on our own form posts.
    headers["Referrer-Policy"] = "same-origin"
    headers["Content-Security-Policy"] = _CSP
    headers["Cross-Origin-Resource-Policy"] = "same-origin"


def require(request: web.Request) -> Principal:
    """The logged-in principal; otherwise 401 (API) or off to the login page."""
    principal = auth_of(request).principal
    if principal is not None:
        return principal
    if is_api(request):
        raise web.HTTPUnauthorized(reason="log in or send an API token",
                                   headers={"WWW-Authenticate": "Bearer"})
    raise web.HTTPSeeOther("/login")
