"""The options each executor takes: a pydantic model per executor, named where it is
registered (:mod:`tane.pipeline.executors`) and imported only when a run asks for it."""

from __future__ import annotations

from pydantic import Field

from ..config.base import Strict


class ExecutorOptions(Strict):
    """An executor's options (none by default)."""


class RayOptions(ExecutorOptions):
    address: str | None = Field(None, description=(
        "the cluster to join, 'auto' or HOST:PORT (default: start a local one)"))
    workers: int | None = Field(None, ge=1, description=(
        "worker actors (default: one per GPU when a stage runs vLLM in-process, else one "
        "per CPU of the cluster)"))
    shard_size: int = Field(64, ge=1, description="records per shard sent to a worker")
    worker_resource: str | None = Field(None, min_length=1, description=(
        "a custom Ray resource each worker takes one of, to place the workers on the "
        "nodes started with it (ray start --resources '{\"NAME\": N}'; default: any node)"))


__all__ = ["ExecutorOptions", "RayOptions"]
