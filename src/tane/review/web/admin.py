"""Admin handlers: progress and agreement, the records reviewers disagree on, an
adjudicator's decision, and applying final decisions as revisions."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...store.revisions import FIELDS
from .diff import field_diffs
from .find import STATES, Query
from .forms import FormError
from .service import Refused
from .views import Views


SHOWN = 100  # records a search lists (the total is given; filters narrow it down)


class AdminViews(Views):
    last_apply: str = ""

    async def admin(self, request: Request) -> Response:
        u, bad = self.guard(request, admin=True)
        if bad:
            return bad
        figs = self.r.figures()
        finals = self.r.finals()
        waiting = [rid for rid in figs["disagree"] if rid not in finals]
        return self.page("admin.html", user=u[0], figs=figs, waiting=waiting,
                         finals=len(finals), csrf=self.csrf.token(u[2]), quote=quote,
                         rule=self.r.rule, overlap=self.r.overlap, message=self.last_apply,
                         q=None, reviewers=self.r.reviewers, states=STATES)

    async def find(self, request: Request) -> Response:
        u, bad = self.guard(request, admin=True)
        if bad:
            return bad
        p = request.query_params
        unknown = set(p) - {"q", "method", "cell", "reason", "reviewer", "state",
                            "disagree", "score_min", "score_max"}
        try:
            if unknown:
                raise ValueError(f"unknown filter {sorted(unknown)[0][:40]!r}")
            if p.get("state", "") not in STATES:
                raise ValueError(f"state: one of {', '.join(s for s in STATES if s)}")
            q = Query(p.get("q", "")[:200], p.get("method", ""), p.get("cell", ""),
                      p.get("reason", ""), p.get("reviewer", ""), p.get("state", ""),
                      p.get("disagree") == "1",
                      float(p["score_min"]) if p.get("score_min") else None,
                      float(p["score_max"]) if p.get("score_max") else None)
        except ValueError as e:
            return self.error(400, f"bad filter: {e}")
        found = self.r.search(q)
        return self.page("find.html", user=u[0], found=found[:SHOWN], total=len(found),
                         q=q, quote=quote, reviewers=self.r.reviewers, states=STATES)

    async def adjudicate_page(self, request: Request) -> Response:
        u, bad = self.guard(request, admin=True)
        if bad:
            return bad
        return self._page(u, request.path_params["rid"])

    def _page(self, u, rid: str, status: int = 200, message: str = "", newer=None
              ) -> Response:
        if rid not in self.r.by_id:
            return self.error(404, "no such record")
        item = self.r.by_id[rid]
        subs, adj = self.r.submissions(rid)
        shown = [(e, field_diffs(item.machine, e.after)) for e in subs]
        edit = next((e.after for e in subs if e.answers.get("decision") == "edit"), None)
        return self.page("adjudicate.html", status, user=u[0], item=item, subs=shown,
                         adj=adj, text=(adj.after if adj else edit or item.current),
                         questions=self.r.questions, fields=FIELDS, message=message,
                         version=self.r.version(rid), csrf=self.csrf.token(u[2]),
                         newer=newer, quote=quote,
                         final=self.r.finals().get(rid))

    async def adjudicate(self, request: Request) -> Response:
        u, bad = self.guard(request, admin=True)
        if bad:
            return bad
        rid = request.path_params["rid"]
        if rid not in self.r.by_id:
            return self.error(404, "no such record")
        try:
            form = await self.post_form(request, u, {"version", "note", "q_decision",
                                                     *FIELDS},
                                        {"version", "q_decision", *FIELDS})
            if not form["version"].isdigit():
                raise FormError(400, "bad version; nothing was saved")
            answers = self._answers(form)
            self.r.save(u[0], rid, "adjudicate", {k: form[k] for k in FIELDS}, answers,
                        form.get("note", "").strip(), int(form["version"]))
            self._apply()
        except FormError as e:
            return self.error(e.status, e.message)
        except Refused as e:
            return self._page(u, rid, e.status, e.message, e.newer)
        return RedirectResponse("/admin", 303)

    async def apply(self, request: Request) -> Response:
        u, bad = self.guard(request, admin=True)
        if bad:
            return bad
        try:
            await self.post_form(request, u, set(), set())
            self._apply()
        except FormError as e:
            return self.error(e.status, e.message)
        except Refused as e:
            return self.error(e.status, e.message)
        return RedirectResponse("/admin", 303)

    def _apply(self) -> None:
        res = self.r.apply()
        self.last_apply = (f"{res.added} final decision(s) applied as revisions; "
                                 "dataset.jsonl and rejected.jsonl rebuilt"
                                 + "".join(f"\n{c}" for c in res.conflicts))
