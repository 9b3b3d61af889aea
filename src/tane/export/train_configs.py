"""``tane export --for trl|llamafactory``: a ready LoRA SFT set-up beside the exported data.

tane does not train and never imports torch: it writes files that a GPU machine runs.

* ``trl``: ``sft_trl.py``, a small script around TRL's ``SFTTrainer`` (LoRA through
  ``peft.LoraConfig``) reading the exported ``messages`` files, and ``train_trl.sh``.
* ``llamafactory``: ``sft_llamafactory.yaml`` (``stage: sft``, ``finetuning_type: lora``,
  the chat ``template`` chosen from the base model's family) for ``llamafactory-cli
  train``, reading the ``dataset_info.json`` entry the export wrote, and
  ``train_llamafactory.sh``.

The scripts ``cd`` to their own directory, so every path in the configs is relative to
the export directory and the directory can be moved or copied to the GPU machine whole.
The templates are ``export/templates/*.j2``. Argument names follow TRL >= 0.20
(``SFTConfig.max_length``, ``eval_strategy``) and LLaMA-Factory's YAML keys.
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..store.files import file_mode
from .base import write_text
from .families import family

TOOLS = ("trl", "llamafactory")
NEEDS_FORMAT = {"trl": ("messages",), "llamafactory": ("alpaca", "sharegpt")}
FILES = {"trl": ("sft_trl.py", "train_trl.sh"),
         "llamafactory": ("sft_llamafactory.yaml", "train_llamafactory.sh")}
ADAPTERS = "adapters"
BATCH, ACCUM, EPOCHS = 2, 8, 3     # per-device batch x accumulation = 16 sequences a step

NO_TEMPLATE = ("no LLaMA-Factory template is known for this model family (e.g. llm-jp, "
               "Sarashina), so none is set and LLaMA-Factory parses the tokenizer's own chat "
               "template, which instruct models ship; for a base model without one, set a "
               "template name from LLaMA-Factory's list")


def llamafactory_template(base_model: str) -> tuple[str | None, str]:
    """(LLaMA-Factory template name or None, why) for a model id or path."""
    fam = family(base_model)  # the model families' table, shared with the licences
    if fam is not None and fam.template is not None:
        return fam.template, f"chosen for the {fam.what}"
    return None, NO_TEMPLATE


def dataset_name(text: str) -> str:
    """A dataset name for dataset_info.json and a YAML ``dataset:`` line: no commas (LLaMA-
    Factory splits on them), slashes or whitespace."""
    name = re.sub(r"[\s,/\\]+", "_", text).strip("_")
    return name or "tane"


def adapter_name(text: str) -> str:
    """An ASCII adapter name for vLLM's ``--lora-modules NAME=PATH``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (name or "tane") + "-lora"


def check(tool: str, fmt: str, base_model: str | None) -> None:
    """Refuse, before anything is written, what cannot make a working set-up."""
    if tool not in TOOLS:
        raise TaneError(f"unknown trainer '{tool}' (choose from {', '.join(TOOLS)})",
                        field="for")
    if fmt not in NEEDS_FORMAT[tool]:
        raise TaneError(f"--for {tool} reads the {' or '.join(NEEDS_FORMAT[tool])} format, "
                        f"not '{fmt}': export with --format {NEEDS_FORMAT[tool][0]}",
                        field="format")
    if not base_model or not base_model.strip():
        raise TaneError(f"--for {tool} needs --base-model (the Hugging Face id or local path "
                        "of the model to fine-tune)", field="base_model")


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)  # Python, YAML and shell, not HTML
    env.filters["q"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def warmup_steps(n_train: int) -> tuple[int, int]:
    """(warm-up steps, optimizer steps): 10% of ``EPOCHS`` epochs of ``n_train`` rows at
    ``BATCH * ACCUM`` rows a step. A step count, not ``warmup_ratio``, which transformers 5
    deprecates (an integer ``warmup_steps`` means the same in 4.x and 5.x)."""
    total = max(1, math.ceil(n_train / (BATCH * ACCUM))) * EPOCHS
    return max(1, round(0.1 * total)), total


def write_train_config(tool: str, base_model: str, name: str, files: dict[str, Path],
                       out_dir: Path, n_train: int) -> dict[str, Any]:
    """Write the training config and its start script for ``tool`` into ``out_dir``.

    ``files``: split ("train", "validation") -> exported data file (in ``out_dir``);
    ``name``: the dataset's name (the dataset_info.json entry for LLaMA-Factory);
    ``n_train``: rows in the training file (for the warm-up step count).
    Returns ``{"files": [config, script], "command": str, "adapter": str,
    "adapter_dir": str, "template": str | None}``.
    """
    config_name, script_name = FILES[tool]
    adapter = adapter_name(name)
    adapter_dir = f"{ADAPTERS}/{adapter}"
    rel = {split: os.path.relpath(p, out_dir) for split, p in files.items()}
    warmup, total = warmup_steps(n_train)
    common = {"base_model": base_model, "name": name, "adapter": adapter,
              "adapter_dir": adapter_dir, "config_name": config_name,
              "script_name": script_name, "tool": tool, "batch": BATCH, "accum": ACCUM,
              "epochs": EPOCHS, "warmup": warmup, "total_steps": total, "n_train": n_train}
    env = _env()
    template = None
    if tool == "trl":
        suffixes = {p.suffix for p in files.values()}
        loader = "json" if suffixes == {".jsonl"} else "parquet"
        text = env.get_template("train_trl.py.j2").render(
            **common, trl_name=config_name, files=rel, loader=loader)
        command = f"python {config_name}"
    else:
        template, why = llamafactory_template(base_model)
        text = env.get_template("llamafactory_sft.yaml.j2").render(
            **common, eval_name=f"{name}_validation" if "validation" in files else None,
            template=template,
            template_comment=textwrap.wrap(f"template: {why}.", 86))
        command = f"llamafactory-cli train {config_name}"
    config = write_text(out_dir / config_name, text)
    script = write_text(out_dir / script_name,
                        env.get_template("train.sh.j2").render(**common, command=command))
    script.chmod(file_mode(executable=True))
    return {"files": [config, script], "command": f"sh {script}", "adapter": adapter,
            "adapter_dir": adapter_dir, "template": template}
