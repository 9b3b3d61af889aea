"""Recipe section of AgentInstruct flows (methods/agent_instruct.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Strict


class AgentInstructStage(Strict):
    """AgentInstruct flows (methods/agent_instruct.py). Fields owned by that module."""

    method: Literal["agent_instruct"]
    max_rounds: int = Field(200, ge=1)
