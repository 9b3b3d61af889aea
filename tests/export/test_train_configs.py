"""tane export --for trl|llamafactory: the LoRA SFT set-up is written beside the data, parses
(Python AST, YAML, JSON, sh -n), points at the exported files (loaded here with the real
`datasets`) and names the dataset_info.json entry after the dataset."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from test_export import _rec, make_run
from typer.testing import CliRunner

from tane.cli import app
from tane.errors import TaneError
from tane.export.formats import export
from tane.export.train_configs import llamafactory_template, warmup_steps

datasets = pytest.importorskip("datasets")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    seeds = ["ja-001"] * 6 + ["ja-002"] * 6
    return make_run(tmp_path / "run", [_rec(i, s) for i, s in enumerate(seeds)])


def _script_values(path: Path) -> dict:
    """BASE_MODEL, DATA_FILES, OUTPUT_DIR of the written script, evaluated with the
    script's own module-level statements (everything but the imports of trl and peft)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    keep = [n for n in tree.body if isinstance(n, ast.Assign)
            or (isinstance(n, ast.ImportFrom) and n.module == "pathlib")]
    ns: dict = {"__file__": str(path)}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), ns)  # noqa: S102
    return ns


def _calls(path: Path) -> dict[str, set[str]]:
    """Keyword names passed to each called name in the script."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            out.setdefault(node.func.id, set()).update(k.arg for k in node.keywords)
    return out


def _sh_ok(path: Path) -> None:
    assert os.access(path, os.X_OK)
    res = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_trl_script_points_at_the_exported_messages(run_dir, tmp_path, suffix):
    out = tmp_path / "out"
    rep = export(run_dir, "messages", out / f"data{suffix}", val_ratio=0.25, card=False,
                 trainer="trl", base_model="Qwen/Qwen2.5-1.5B-Instruct")
    script, sh = out / "sft_trl.py", out / "train_trl.sh"
    assert rep.train["files"] == [script, sh]
    assert rep.train["command"] == f"sh {sh}"
    values = _script_values(script)
    assert values["BASE_MODEL"] == "Qwen/Qwen2.5-1.5B-Instruct"
    assert values["DATA_FILES"] == {"train": str(out / f"data.train{suffix}"),
                                    "validation": str(out / f"data.validation{suffix}")}
    assert values["OUTPUT_DIR"] == str(out / "adapters" / "ja-lora")
    # the data loads the way the script loads it, as TRL's conversational format
    loader = "json" if suffix == ".jsonl" else "parquet"
    assert f'load_dataset("{loader}", data_files=DATA_FILES)' in script.read_text("utf-8")
    data = datasets.load_dataset(loader, data_files=values["DATA_FILES"],
                                 cache_dir=str(tmp_path / "cache"))
    assert (len(data["train"]), len(data["validation"])) == (rep.counts["train"],
                                                             rep.counts["validation"])
    assert data["train"].column_names == ["messages"]
    calls = _calls(script)
    assert {"output_dir", "max_length", "eval_strategy", "learning_rate", "bf16",
            "gradient_accumulation_steps", "warmup_steps"} <= calls["SFTConfig"]
    assert "warmup_ratio" not in calls["SFTConfig"]     # deprecated in transformers 5
    assert {"r", "lora_alpha", "lora_dropout", "target_modules", "task_type"} \
        <= calls["LoraConfig"]
    assert {"model", "args", "train_dataset", "eval_dataset", "peft_config"} \
        <= calls["SFTTrainer"]
    text = sh.read_text(encoding="utf-8")
    assert 'cd "$(dirname "$0")"' in text and text.rstrip().endswith("python sft_trl.py")
    _sh_ok(sh)


def test_llamafactory_yaml_and_dataset_info(run_dir, tmp_path):
    out = tmp_path / "lf"
    rep = export(run_dir, "sharegpt", out / "data.jsonl", val_ratio=0.25, card=False,
                 trainer="llamafactory", base_model="tokyotech-llm/Llama-3.1-Swallow-8B-"
                 "Instruct-v0.3")
    cfg = yaml.safe_load((out / "sft_llamafactory.yaml").read_text(encoding="utf-8"))
    assert (cfg["stage"], cfg["finetuning_type"], cfg["do_train"]) == ("sft", "lora", True)
    assert cfg["model_name_or_path"] == "tokyotech-llm/Llama-3.1-Swallow-8B-Instruct-v0.3"
    assert cfg["template"] == "llama3" and cfg["lora_target"] == "all"
    assert cfg["dataset_dir"] == "." and cfg["output_dir"] == "adapters/ja-lora"
    assert cfg["warmup_steps"] == warmup_steps(rep.counts["train"])[0] == 1
    assert "warmup_ratio" not in cfg
    # the entries the YAML names exist, are named after the dataset, and point at the files
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert cfg["dataset"] == rep.name == "テスト-ja"
    assert cfg["eval_dataset"] == "テスト-ja_validation"
    assert set(info) == {"テスト-ja", "テスト-ja_validation"}
    for key, split in ((cfg["dataset"], "train"), (cfg["eval_dataset"], "validation")):
        assert out / cfg["dataset_dir"] / info[key]["file_name"] == rep.files[split]
        ds = datasets.load_dataset("json", data_files=str(rep.files[split]), split="train",
                                   cache_dir=str(tmp_path / "cache"))
        assert info[key]["columns"]["messages"] in ds.column_names
        assert len(ds) == rep.counts[split]
    text = (out / "train_llamafactory.sh").read_text(encoding="utf-8")
    assert text.rstrip().endswith("llamafactory-cli train sft_llamafactory.yaml")
    _sh_ok(out / "train_llamafactory.sh")


def test_llamafactory_without_a_known_template(run_dir, tmp_path):
    out = tmp_path / "lf"
    export(run_dir, "alpaca", out / "d.jsonl", card=False, trainer="llamafactory",
           base_model="llm-jp/llm-jp-3-1.8b-instruct", name="ja_qa")
    text = (out / "sft_llamafactory.yaml").read_text(encoding="utf-8")
    cfg = yaml.safe_load(text)
    assert "template" not in cfg and "eval_dataset" not in cfg
    assert "# template: (not set)" in text and "chat template" in text
    assert cfg["dataset"] == "ja_qa"
    assert json.loads((out / "dataset_info.json").read_text("utf-8"))["ja_qa"]["file_name"] \
        == "d.jsonl"


@pytest.mark.parametrize(("model", "template"), [
    ("Qwen/Qwen2.5-7B-Instruct", "qwen"), ("Qwen/Qwen3-8B", "qwen3"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3"), ("google/gemma-3-4b-it", "gemma3"),
    ("google/gemma-2-9b-it", "gemma"), ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    ("microsoft/phi-4", "phi4"), ("llm-jp/llm-jp-3-13b-instruct", None),
    ("sbintuitions/sarashina2.2-3b-instruct-v0.1", None)])
def test_template_per_family(model, template):
    assert llamafactory_template(model)[0] == template


def test_warmup_steps_by_hand():
    # 1000 rows at 16 a step: 63 steps an epoch, 189 in 3 epochs, 10% -> 19
    assert warmup_steps(1000) == (19, 189)
    assert warmup_steps(1) == (1, 3)


def test_refusals_write_nothing(run_dir, tmp_path):
    out = tmp_path / "x"
    cases = [("alpaca", "trl", "m", "reads the messages format"),
             ("messages", "llamafactory", "m", "alpaca or sharegpt"),
             ("messages", "trl", None, "needs --base-model"),
             ("messages", "axolotl", "m", "unknown trainer")]
    for fmt, tool, model, msg in cases:
        with pytest.raises(TaneError, match=msg):
            export(run_dir, fmt, out / "d.jsonl", trainer=tool, base_model=model)
    assert not out.exists()


def test_cli(run_dir, tmp_path):
    to = tmp_path / "c" / "d.jsonl"
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "messages", "--to",
                                 str(to), "--no-card", "--for", "trl", "--base-model",
                                 "Qwen/Qwen2.5-0.5B-Instruct"])
    assert r.exit_code == 0, r.output
    assert f"to train (on a GPU machine): sh {to.parent / 'train_trl.sh'}" in r.output
    assert (to.parent / "sft_trl.py").exists()
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "jsonl", "--to",
                                 str(tmp_path / "e" / "d.jsonl"), "--for", "llamafactory",
                                 "--base-model", "m"])
    assert r.exit_code == 2 and "alpaca or sharegpt" in r.output
    assert not (tmp_path / "e").exists()
