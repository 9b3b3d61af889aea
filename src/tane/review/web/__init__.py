"""``tane review serve``: a small web app over a run directory for a team of reviewers.

Server-rendered (Starlette, Jinja2, uvicorn), no external services: the reviewers, their
token hashes and an append-only log of every draft, submission, skip, undo and
adjudication live in the run's ``run.sqlite`` (:mod:`.store`). Final decisions become
review revisions through :func:`tane.store.revision_commit.commit_revisions`, the path
``tane review import`` uses (:mod:`.decide`).
"""
