"""The Starlette application of ``tane review serve``."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .admin import AdminViews
from .auth import ADMIN, Csrf, digest, new_token
from .questions import Question
from .service import Review
from .store import set_reviewers

HERE = Path(__file__).parent
HEADERS = {"Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                                      "style-src 'self'; frame-ancestors 'none'; "
                                      "form-action 'self'",
           "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


class Headers:
    """Adds :data:`HEADERS` to every response (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` runs each request through a task group and streams of its own,
    which was a good part of a short request's time)."""

    RAW = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.RAW if k not in have]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _server_error(request, exc):  # never the traceback, a cookie or a form
    return PlainTextResponse("internal error (see the server's log)", 500)


def issue_tokens(review: Review) -> dict[str, str]:
    """A new token per reviewer and for the admin; only their hashes are stored."""
    tokens = {name: new_token() for name in [*review.reviewers, ADMIN]}
    set_reviewers(review.db, {n: (digest(t), ADMIN if n == ADMIN else "reviewer")
                              for n, t in tokens.items()})
    return tokens


def create_app(run_dir: str | Path, reviewers: list[str], overlap: int = 2,
               questions: list[Question] | None = None, rule: str = "majority",
               guidelines: str = "", include_dropped: bool = False
               ) -> tuple[Starlette, dict[str, str], Review]:
    """The app, the tokens (name -> token; printed once by the CLI) and the review."""
    from .questions import load

    review = Review(run_dir, reviewers, overlap, questions or load(None), rule, guidelines,
                    include_dropped)
    tokens = issue_tokens(review)
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    v = AdminViews(review, env, Csrf())
    routes = [Route("/", v.home), Route("/login", v.login_page),
              Route("/login", v.login, methods=["POST"]),
              Route("/next", v.next), Route("/r/{rid:path}", v.record),
              Route("/r/{rid:path}", v.save, methods=["POST"]),
              Route("/undo", v.undo, methods=["POST"]),
              Route("/admin", v.admin), Route("/admin/apply", v.apply, methods=["POST"]),
              Route("/admin/find", v.find),
              Route("/admin/r/{rid:path}", v.adjudicate_page),
              Route("/admin/r/{rid:path}", v.adjudicate, methods=["POST"]),
              Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, middleware=[Middleware(Headers)],
                    exception_handlers={500: _server_error})
    return app, tokens, review
