"""docs/serving.md stays true to the code: its recipes validate, its Magpie template names
exist, and every model it names has the licence the page says in tane's registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tane.export.licences import lookup
from tane.llm.templates import builtin_names
from tane.recipe import Recipe

DOC = (Path(__file__).resolve().parents[1] / "docs" / "serving.md").read_text(encoding="utf-8")


def test_recipes_in_the_page_validate():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        Recipe.model_validate(yaml.safe_load(block))


def test_magpie_template_names_exist():
    names = set(builtin_names())
    table = DOC.split("| model | `template:` |", 1)[1].split("\n\n", 1)[0]
    used = re.findall(r"\| `([a-z0-9.-]+)`", table)
    assert used and set(used) <= names, set(used) - names


@pytest.mark.parametrize("model, licence", [
    ("llm-jp/llm-jp-3-13b", "apache-2.0"),
    ("llm-jp/llm-jp-3-3.7b-instruct", "apache-2.0"),
    ("llm-jp/llm-jp-3-172b-instruct3", "llm-jp-3-172b"),
    ("Qwen/Qwen2.5-7B", "apache-2.0"),
    ("Qwen/Qwen2.5-32B-Instruct", "apache-2.0"),
    ("Qwen/Qwen2.5-3B-Instruct", "qwen-research"),
    ("Qwen/Qwen2.5-72B-Instruct", "qwen"),
    ("google/gemma-2-9b-it", "gemma"),
    ("google/gemma-3-12b-it", "gemma"),
    ("google/gemma-4-31b-it", "apache-2.0"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1"),
])
def test_the_page_and_the_registry_agree(model, licence):
    assert lookup(model).licence.id == licence
    family = model.split("/")[1].split("-")[0]
    assert family.lower() in DOC.lower()
