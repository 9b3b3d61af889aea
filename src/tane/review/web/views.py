"""HTTP handlers: login, the reviewer's record view, undo, the admin view and
adjudication. Everything is rendered by Jinja2 with autoescaping: generated text is
shown as text."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...store.revisions import FIELDS
from .auth import ADMIN, COOKIE, Csrf, digest, same_origin
from .diff import field_diffs
from .forms import FormError, read_form
from .service import Refused, Review


class Views:
    def __init__(self, review: Review, templates, csrf: Csrf):
        self.r, self.t, self.csrf = review, templates, csrf

    # -- helpers -------------------------------------------------------------------------
    def who(self, request: Request) -> tuple[str, str, str] | None:
        tok = request.cookies.get(COOKIE)
        if not tok:
            return None
        d = digest(tok)
        found = self.r.reviewer(d)
        return (found[0], found[1], d) if found else None

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("busy", self.r.busy())
        return HTMLResponse(self.t.get_template(name).render(**ctx), status_code=status)

    def error(self, status: int, message: str) -> HTMLResponse:
        return self.page("error.html", status, error=message, user=None)

    def guard(self, request: Request, admin: bool = False):
        u = self.who(request)
        if u is None:
            return None, self.error(401, "sign in with your review link")
        if admin and u[1] != ADMIN:
            return None, self.error(403, "this page is for the admin link")
        return u, None

    async def post_form(self, request: Request, u, allowed: set[str],
                        required: set[str]) -> dict[str, str]:
        if not same_origin(request.headers, request.headers.get("host", "")):
            raise FormError(403, "cross-site request refused")
        form = await read_form(request, allowed | {"csrf"}, required | {"csrf"})
        if not self.csrf.valid(u[2], form["csrf"]):
            raise FormError(403, "form token missing or wrong: reload the page")
        return form

    # -- login ---------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        return self.page("login.html", user=None)

    async def login(self, request: Request) -> Response:
        if not same_origin(request.headers, request.headers.get("host", "")):
            return self.error(403, "cross-site request refused")
        try:
            form = await read_form(request, {"token"}, {"token"})
        except FormError as e:
            return self.error(e.status, e.message)
        found = self.r.reviewer(digest(form["token"]))
        if found is None:
            return self.error(401, "unknown or expired review link")
        resp = RedirectResponse("/", 303)
        resp.set_cookie(COOKIE, form["token"], httponly=True, samesite="strict", path="/")
        return resp

    async def home(self, request: Request) -> Response:
        u, bad = self.guard(request)
        if bad:
            return bad
        return RedirectResponse("/admin" if u[1] == ADMIN else "/next", 303)

    # -- reviewer ------------------------------------------------------------------------
    async def next(self, request: Request) -> Response:
        u, bad = self.guard(request)
        if bad:
            return bad
        after = request.query_params.get("after")
        rid = self.r.next_id(u[0], after)
        if rid is None:
            return self.page("done.html", user=u[0], csrf=self.csrf.token(u[2]))
        return RedirectResponse(f"/r/{quote(rid, safe='')}", 303)

    def record_ctx(self, u, rid: str, **extra: Any) -> dict[str, Any]:
        item = self.r.by_id[rid]
        mine = self.r.mine(u[0]).get(rid)
        text = dict(mine.after) if mine else dict(item.current)
        answers = dict(mine.answers) if mine else {}
        q = self.r.queues.get(u[0], [])
        pos = self.r.position.get(u[0], {}).get(rid)
        return {"user": u[0], "item": item, "text": text, "answers": answers,
                "note": mine.note if mine else "", "state": mine.kind if mine else "new",
                "diffs": field_diffs(item.machine, text), "questions": self.r.questions,
                "version": self.r.version(rid), "csrf": self.csrf.token(u[2]),
                "guidelines": self.r.guidelines, "position": (pos or 0) + 1,
                "total": len(q), "prev": self.r.prev_id(u[0], rid),
                "fields": FIELDS, "quote": quote} | extra

    async def record(self, request: Request) -> Response:
        u, bad = self.guard(request)
        if bad:
            return bad
        rid = request.path_params["rid"]
        if rid not in self.r.by_id or (u[1] != ADMIN and rid not in self.r.position.get(
                u[0], {})):
            return self.error(404, "no such record in your queue")
        return self.page("record.html", **self.record_ctx(u, rid))

    def _fields(self) -> set[str]:
        return {"version", "action", "note", *FIELDS} | {f"q_{q.name}" for q in
                                                          self.r.questions}

    async def save(self, request: Request) -> Response:
        u, bad = self.guard(request)
        if bad:
            return bad
        rid = request.path_params["rid"]
        if rid not in self.r.position.get(u[0], {}):
            return self.error(404, "no such record in your queue")
        try:
            form = await self.post_form(request, u, self._fields(),
                                        {"version", "action", *FIELDS})
            action = form["action"]
            if action not in ("draft", "submit", "skip") or not form["version"].isdigit():
                raise FormError(400, "unknown action or version; nothing was saved")
            answers = self._answers(form)
            after = {k: form[k] for k in FIELDS}
            # in a worker thread: the commit waits for the disk, the other requests don't
            await run_in_threadpool(self.r.save, u[0], rid, action, after, answers,
                                    form.get("note", "").strip(), int(form["version"]))
        except FormError as e:
            return self.error(e.status, e.message)
        except Refused as e:
            ctx = self.record_ctx(u, rid, message=e.message, newer=e.newer)
            if e.newer is None and e.status == 400:
                ctx |= {"text": after, "answers": answers}
            return self.page("record.html", e.status, **ctx)
        if action == "draft":
            return RedirectResponse(f"/r/{quote(rid, safe='')}", 303)
        return RedirectResponse(f"/next?after={quote(rid, safe='')}", 303)

    def _answers(self, form: dict[str, str]) -> dict[str, str]:
        out = {}
        for q in self.r.questions:
            v = form.get(f"q_{q.name}", "")
            if v and v not in q.options:
                raise FormError(400, f"{v[:20]!r} is not an answer to {q.name}; nothing was "
                                     "saved")
            if v:
                out[q.name] = v
        return out

    async def undo(self, request: Request) -> Response:
        u, bad = self.guard(request)
        if bad:
            return bad
        try:
            await self.post_form(request, u, set(), set())
            rid = await run_in_threadpool(self.r.undo, u[0])
        except FormError as e:
            return self.error(e.status, e.message)
        except Refused as e:
            return self.error(e.status, e.message)
        return RedirectResponse(f"/r/{quote(rid, safe='')}" if rid else "/next", 303)
