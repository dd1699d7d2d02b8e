"""HTML pages from Jinja2 templates, autoescaped: caller names and numbers are whatever
a trunk delivered, and must reach a browser as text, never as markup."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from callrec.web.context import auth_of

TEMPLATES = web.AppKey("callrec_templates", jinja2.Environment)


def environment(zone: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("callrec.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    env.filters["local"] = lambda moment: _local(moment, zone)
    env.filters["duration"] = duration
    return env


def page(request: web.Request, name: str, status: int = 200,
         headers: dict[str, str] | None = None, **values: Any) -> web.Response:
    auth = auth_of(request)
    html = request.app[TEMPLATES].get_template(name).render(
        principal=auth.principal, csrf=auth.csrf, **values)
    return web.Response(text=html, status=status, content_type="text/html",
                        charset="utf-8", headers=headers)


def error_page(request: web.Request, status: int, message: str,
               headers: dict[str, str]) -> web.Response:
    return page(request, "error.html", status=status, headers=headers, status_code=status,
                message=message)


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
