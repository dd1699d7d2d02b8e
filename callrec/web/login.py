"""Logging in and out of the browser interface.

The login form is protected by a double-submit token (cookie + hidden field) since there is
no session yet to derive one from. Failed logins answer slowly, and after too many within
the lockout window the user name is locked, whether or not such a user exists, so the
answers tell an attacker nothing about which names are real.
"""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from callrec.access.credentials import (
    MAX_PASSWORD_LENGTH,
    new_session_id,
    same_secret,
    secret_hash,
)
from callrec.web.context import auth_of, context_of
from callrec.web.middleware import SESSION_COOKIE
from callrec.web.render import page

LOGIN_COOKIE = "callrec_login"
MAX_USERNAME = 64


async def login_form(request: web.Request) -> web.StreamResponse:
    if auth_of(request).principal is not None:
        return redirect("/")
    return _form(request, 200, "")


def _form(request: web.Request, status: int, message: str, username: str = "",
          headers: dict[str, str] | None = None) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", status=status, headers=headers,
                    login_token=token, message=message, username=username[:MAX_USERNAME])
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    context = context_of(request)
    form = await request.post()
    token, username, password = (_field(form, name) for name in
                                 ("csrf_token", "username", "password"))
    if not token or not same_secret(token, request.cookies.get(LOGIN_COOKIE, "")):
        return _form(request, 403, "The form had expired. Please log in again.")
    username = username.strip().lower()[:MAX_USERNAME]
    client = request.remote or "unknown"
    settings = context.settings
    now = context.clock()
    failures = await context.run(context.credentials.recent_failures, username,
                                 now - settings.lockout_window)
    if failures >= settings.lockout_failures:
        retry = str(int(settings.lockout_window.total_seconds()))
        return _form(request, 429, "Too many failed logins for this user name. Try again "
                     "later, or ask an administrator.", username, {"Retry-After": retry})
    account = await _check_password(request, username, password[:MAX_PASSWORD_LENGTH])
    await context.run(context.credentials.record_login, username, client, now,
                      account is not None)
    if account is None:
        await asyncio.sleep(settings.failed_login_delay)
        return _form(request, 401, "Wrong user name or password.", username)
    session_id = new_session_id()
    await context.run(context.credentials.open_session, secret_hash(session_id), account,
                      now, settings.session_lifetime, client)
    response = redirect("/")
    _set_cookie(request, response, SESSION_COOKIE, session_id,
                max_age=int(settings.session_lifetime.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


async def _check_password(request: web.Request, username: str, password: str) -> int | None:
    """The user's id if the password is right and the account usable; None otherwise."""
    context = context_of(request)
    found = await context.run(context.users.password_hash, username)
    stored = None if found is None else found[1]
    ok = await context.run(context.passwords.verify, stored, password)
    if not ok or found is None or found[0].disabled:
        return None
    return found[0].id


async def logout(request: web.Request) -> web.StreamResponse:
    auth = auth_of(request)
    context = context_of(request)
    if auth.session_id is not None:
        await context.run(context.credentials.close_session, secret_hash(auth.session_id))
    response = redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _field(form: object, name: str) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    return value if isinstance(value, str) else ""


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
                max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=context_of(request).settings.cookie_secure)
