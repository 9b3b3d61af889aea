"""Reviewer tokens and cross-site request protection.

A token is made per reviewer (and one for the admin) at each start, printed once, and
stored only as its SHA-256. The login link carries it after ``#``, which a browser never
sends to a server, so it reaches no access log; the login page posts it and gets it back
as an HttpOnly, SameSite=Strict cookie. Every POST must carry a form token derived from
the session (HMAC with a key that lives only in the server process) and, when the
browser says where the request came from (``Origin``, ``Sec-Fetch-Site``), come from this
server's own pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

COOKIE = "tane_review"
ADMIN = "admin"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Csrf:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def token(self, session_digest: str) -> str:
        return hmac.new(self._key, session_digest.encode(), hashlib.sha256).hexdigest()

    def valid(self, session_digest: str, given: str) -> bool:
        return hmac.compare_digest(self.token(session_digest), given or "")


def same_origin(headers, host: str) -> bool:
    """False when the browser says the request came from another site."""
    if headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
        return False
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == host
