"""The aiohttp application: routes, middlewares, limits."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callrec.web import api, login, pages, pause_api
from callrec.web.context import CONTEXT, WebContext
from callrec.web.middleware import authenticate, errors, security_headers
from callrec.web.render import TEMPLATES, environment

# Login forms and listen requests are a few hundred bytes; anything near this is abuse.
MAX_BODY = 16 * 1024
STATIC_DIR = Path(__file__).parent / "static"


def build_app(context: WebContext) -> web.Application:
    app = web.Application(middlewares=[errors, authenticate], client_max_size=MAX_BODY)
    app[CONTEXT] = context
    app[TEMPLATES] = environment(context.settings.timezone)
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/", pages.home)
    app.router.add_get("/login", login.login_form)
    app.router.add_post("/login", login.login)
    app.router.add_post("/logout", login.logout)
    app.router.add_get("/calls", pages.calls)
    app.router.add_get("/calls/{call_id}", pages.call)
    app.router.add_get("/users", pages.users)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_get("/api/me", api.me)
    app.router.add_get("/api/calls", api.search_calls)
    app.router.add_get("/api/calls/{call_id}", api.show_call)
    app.router.add_post("/api/calls/{call_id}/listen", api.listen)
    app.router.add_post("/api/calls/{call_id}/pause", pause_api.pause)
    app.router.add_post("/api/calls/{call_id}/resume", pause_api.resume)
    app.router.add_get("/api/listen/{token}", api.recording)
    app.router.add_get("/api/access-log", api.access_log)
    app.router.add_get("/api/users", api.users)
    return app
