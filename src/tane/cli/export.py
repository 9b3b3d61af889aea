"""``tane export``: a run's records for training, with a dataset card."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import TaneError
from .common import app, err, error_exit, out


@app.command()
def export(run_dir: Path = typer.Argument(..., help="run directory"),
           format: str = typer.Option(..., "--format", "-f",
                                      help="messages, alpaca, sharegpt or jsonl"),
           to: Path = typer.Option(..., "--to", help="output file, .jsonl or .parquet"),
           system: Optional[str] = typer.Option(None, help="system prompt to add (default: none)"),
           val_ratio: float = typer.Option(0.0, help="validation share, stratified by seed"),
           seed: int = typer.Option(0, help="seed for the train/validation split"),
           card: bool = typer.Option(True, help="write README.md (dataset card) and NOTICE"),
           commercial: bool = typer.Option(True, help="--commercial: the data is meant for "
                                           "commercial use, so warn when a model's licence "
                                           "is research-only; --no-commercial: it is not, "
                                           "no such warning"),
           push_to_hub: Optional[str] = typer.Option(None, help="Hugging Face dataset repo "
                                                              "(needs HF_TOKEN; default: no upload)"),
           name: Optional[str] = typer.Option(None, help="the dataset's name (dataset_info.json "
                                                         "entry, training configs); default: "
                                                         "the recipe's name"),
           trainer: Optional[str] = typer.Option(None, "--for",
                                                 help="also write a LoRA SFT config and its "
                                                      "start script: trl (needs --format "
                                                      "messages) or llamafactory (alpaca or "
                                                      "sharegpt; default: none)"),
           base_model: Optional[str] = typer.Option(None, help="with --for: the model to "
                                                               "fine-tune (Hugging Face id or "
                                                               "path; default: none)")) -> None:
    """Export a run's records for training, with a dataset card (and, with --for, a ready
    LoRA SFT config for TRL or LLaMA-Factory)."""
    from ..api.data import export as do_export

    try:  # a push is checked (token, library) before anything is written
        rep = do_export(run_dir, format, to, system=system, val_ratio=val_ratio, seed=seed,
                        card=card, commercial=commercial, push_to_hub=push_to_hub,
                        name=name, trainer=trainer, base_model=base_model)
    except TaneError as e:
        error_exit(e)
        return
    files = ", ".join(f"{p} ({rep.counts[s]} {s})" for s, p in rep.files.items())
    out.print(f"{format}: {files}", highlight=False)
    if rep.skipped_no_output:
        err.print(f"[yellow]skipped:[/] {rep.skipped_no_output} record(s) without output")
    extra = [str(p) for p in (rep.dataset_info, rep.card, rep.notice) if p]
    if extra:
        out.print("also wrote: " + ", ".join(extra), highlight=False)
    if rep.train:
        out.print("training set-up: " + ", ".join(str(p) for p in rep.train["files"]),
                  highlight=False)
        out.print(f"to train (on a GPU machine): {rep.train['command']}", highlight=False)
    for w in rep.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if rep.pushed_to:
        out.print(f"pushed to https://huggingface.co/datasets/{rep.pushed_to}")
