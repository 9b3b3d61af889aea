"""Model families: one ordered table that gives a model id (Hugging Face ids, Ollama tags,
GGUF names, the embedded models' ids) its weights' licence (:mod:`.licences`, for the
dataset card) and its LLaMA-Factory chat template (:mod:`.train_configs`).

Patterns are case-insensitive regular expressions tried in order, most specific first, and
the first match decides both: so a family whose licence changed between versions (Llama 3
-> 3.1, Mistral Small 2409 -> 3, Qwen2.5 3B and 72B) comes before its wider pattern. A
family with no licence here (``licence=None``) is unknown to the licence registry; one with
no template (``template=None``) gets none set, and LLaMA-Factory reads the tokenizer's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    name: str
    pattern: str
    licence: str | None          # an id of licences.LICENCES, or None (not known)
    template: str | None         # LLaMA-Factory's template name, or None (the tokenizer's)
    what: str                    # the family, as the training config's comment says it
    example: str                 # a model id this row is the first match of (tested)
    note: str = ""               # said with the licence (why this one, what is uncertain)
    rx: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rx", re.compile(self.pattern, re.IGNORECASE))


_LLAMA3 = "Llama 3 family (Llama 3.x, Llama-3.x-Swallow)"
_QWEN = "Qwen / Qwen2 / Qwen2.5 family (ChatML)"

FAMILIES: tuple[Family, ...] = (
    # the embedded models (src/tane/llm/embedded.py)
    Family("gemma-3-270m", r"gemma-3-270m", "gemma", "gemma3", "Gemma 3 family",
           "ggml-org/gemma-3-270m-it-GGUF", "embedded model"),
    Family("smollm2", r"smollm2", "apache-2.0", None, "SmolLM2",
           "HuggingFaceTB/SmolLM2-1.7B-Instruct"),
    # Llama: 3.3 / 3.2 / 3.1 before the bare 3 (whose terms differ: output-use clause)
    Family("llama3.3", r"llama[-_ ]?3[._]?3(?![\d.])", "llama3.3", "llama3", _LLAMA3,
           "meta-llama/Llama-3.3-70B-Instruct"),
    Family("llama3.2", r"llama[-_ ]?3[._]?2(?![\d.])", "llama3.2", "llama3", _LLAMA3,
           "llama3.2:3b"),
    Family("llama3.1", r"llama[-_ ]?3[._]?1(?![\d.])", "llama3.1", "llama3", _LLAMA3,
           "meta-llama/Llama-3.1-8B-Instruct"),
    Family("llama3", r"llama[-_ ]?3(?![\d.])", "llama3", "llama3", _LLAMA3,
           "meta-llama/Meta-Llama-3-8B-Instruct"),
    Family("llama3-other", r"llama-?3|swallow.*llama|llama.*swallow", None, "llama3", _LLAMA3,
           "tokyotech-llm/Swallow-MX-llama-7b"),
    Family("llama4", r"llama-?4", None, "llama4", "Llama 4 family",
           "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
    # Gemma 4 is Apache-2.0 (the Gemma Terms of Use point Gemma 4 to
    # ai.google.dev/gemma/apache_2); Gemma 1, 2, 3, CodeGemma, ...: the Gemma Terms of Use
    Family("gemma4", r"gemma[-_ ]?4(?![\d.])", "apache-2.0", "gemma",
           "Gemma / Gemma 2 family", "google/gemma-4-12b-it", "Gemma 4 (Apache-2.0)"),
    Family("gemma3", r"gemma-?3", "gemma", "gemma3", "Gemma 3 family",
           "google/gemma-3-4b-it"),
    Family("gemma", r"gemma", "gemma", "gemma", "Gemma / Gemma 2 family",
           "google/gemma-2-9b-it"),
    # Qwen3: Apache-2.0; Qwen2.5: Apache-2.0 except 3B (research licence) and 72B (Qwen's)
    Family("qwen3", r"qwen[-_ ]?3", "apache-2.0", "qwen3", "Qwen3 family", "Qwen/Qwen3-8B"),
    Family("qwen2.5-3b", r"qwen[-_ ]?2\.5.*?(?<![\d.])3b", "qwen-research", "qwen", _QWEN,
           "Qwen/Qwen2.5-3B-Instruct",
           "Qwen2.5 3B checkpoints ship under the Qwen Research License (uncertain for "
           "every variant: check the LICENSE file)"),
    Family("qwen2.5-72b", r"qwen[-_ ]?2\.5.*?72b", "qwen", "qwen", _QWEN,
           "Qwen/Qwen2.5-72B-Instruct",
           "Qwen2.5 72B checkpoints ship under the Qwen License (uncertain for every "
           "variant: check the LICENSE file)"),
    Family("qwen2.5", r"qwen[-_ ]?2\.5", "apache-2.0", "qwen", _QWEN,
           "Qwen/Qwen2.5-7B-Instruct",
           "most Qwen2.5 sizes (0.5B, 1.5B, 7B, 14B, 32B) are Apache-2.0; 3B and 72B "
           "are not"),
    Family("qwen", r"qwen", None, "qwen", _QWEN, "Qwen/Qwen2-7B-Instruct"),
    # Mistral Small: 2409 was research-only (MRL); Small 3 / 3.1 / 3.2 are Apache-2.0
    Family("mistral-small-2409", r"mistral[-_ ]?small.*2409|mistral[-_ ]?small:22b", "mrl",
           "mistral_small", "Mistral Small (tekken v7)",
           "mistralai/Mistral-Small-Instruct-2409",
           "Mistral Small 2409 (Mistral Research License)"),
    Family("mistral-small-3",
           r"mistral[-_ ]?small[-_ ]?3|mistral[-_ ]?small.*(2501|2503|2506)", "apache-2.0",
           "mistral_small", "Mistral Small (tekken v7)",
           "mistralai/Mistral-Small-24B-Instruct-2501", "Mistral Small 3 / 3.1 / 3.2"),
    Family("mistral-small", r"mistral-small", None, "mistral_small",
           "Mistral Small (tekken v7)", "mistralai/Mistral-Small-Instruct-2402"),
    Family("ministral", r"ministral", None, "ministral", "Ministral (tekken v3)",
           "mistralai/Ministral-8B-Instruct-2410"),
    Family("mistral", r"mistral|mixtral", None, "mistral", "Mistral / Mixtral family",
           "mistralai/Mistral-7B-Instruct-v0.3"),
    Family("phi4", r"phi-?4", None, "phi4", "Phi-4 family", "microsoft/phi-4"),
    Family("phi3", r"phi-?3", None, "phi", "Phi-3 family",
           "microsoft/Phi-3-mini-4k-instruct"),
    # Japanese open models (LLaMA-Factory has no template for them)
    Family("llm-jp-3-172b", r"llm-jp-3-172b", "llm-jp-3-172b", None, "LLM-jp-3",
           "llm-jp/llm-jp-3-172b-instruct3", "LLM-jp-3 172B: its own terms"),
    Family("llm-jp-3", r"llm-jp-3", "apache-2.0", None, "LLM-jp-3",
           "llm-jp/llm-jp-3-13b-instruct"),
    Family("tanuki", r"tanuki-8(x8)?b", "apache-2.0", None, "Tanuki",
           "weblab-GENIAC/Tanuki-8B-dpo-v1.0"),
)


def family(model_id: str) -> Family | None:
    """The first family whose pattern is found in ``model_id`` (None: none is)."""
    for fam in FAMILIES:
        if fam.rx.search(model_id or ""):
            return fam
    return None
