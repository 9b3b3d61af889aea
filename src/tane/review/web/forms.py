"""Reading a POSTed form strictly: a size limit, known fields only, each once."""

from __future__ import annotations

from urllib.parse import parse_qsl

from ...store.sheets import MAX_CELL

MAX_BODY = 4 * MAX_CELL + 65536  # three text fields and a note at their limit, and more


class FormError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


async def read_form(request, allowed: set[str], required: set[str]) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != \
            "application/x-www-form-urlencoded":
        raise FormError(415, "send the form as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise FormError(413, f"the form is larger than {MAX_BODY} bytes; nothing was "
                                 "saved")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          strict_parsing=bool(body), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise FormError(400, "the form is not valid UTF-8 form data") from None
    out: dict[str, str] = {}
    for k, v in pairs:
        if k not in allowed:
            raise FormError(400, f"unknown form field {k[:40]!r}; nothing was saved")
        if k in out:
            raise FormError(400, f"form field {k!r} sent twice; nothing was saved")
        if len(v) > MAX_CELL:
            raise FormError(413, f"field {k!r} has {len(v)} characters, more than the "
                                 f"limit {MAX_CELL}; nothing was saved")
        out[k] = v.replace("\r\n", "\n")
    missing = sorted(required - set(out))
    if missing:
        raise FormError(400, f"missing form field(s) {', '.join(missing)}; nothing was saved")
    return out
