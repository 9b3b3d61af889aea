"""The dataset card's section on sampled context: the files values were drawn from
(personas and the like), with their size and hash, and what their licence asks."""

from __future__ import annotations

from typing import Any

from ..config.context import SampledOrigin, SampledStep
from ..provenance import Provenance

BUNDLED_PERSONAS = "bundled:personas"


def sampled_files(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """path -> {rows, sha256, axes} of every file a record's sampled values came from
    (the generator's ``sampled_files`` and those of its steps)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        prov = Provenance.of_row(rec)
        found = [prov.origin(SampledOrigin).sampled_files] + [
            s.sampled_files for s in prov.steps_as(SampledStep)]
        for files in found:
            for axis, f in files.items():
                if isinstance(f.get("path"), str):
                    info = out.setdefault(f["path"], {"rows": f.get("rows"),
                                                      "sha256": f.get("sha256"), "axes": []})
                    if axis not in info["axes"]:
                        info["axes"].append(axis)
    return out


def sampled_lines(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(the card's lines, warnings); nothing when no value was drawn from a file."""
    files = sampled_files(records)
    if not files:
        return [], []
    lines = ["## Sampled context", "",
             "Values drawn per item from these files (each record's `sampled` and "
             "`sampled_rows` in provenance say which row):", "",
             "| file | axes | rows drawn from | sha256 (16) | licence |", "|---|---|---|---|---|"]
    warnings = []
    for path, f in files.items():
        if path == BUNDLED_PERSONAS:
            lic = "written for tane by its authors, Apache-2.0 like the project"
        else:
            lic = "not recorded"
            warnings.append(f"sampled file {path}: its licence is not recorded; state it in "
                            "the card before publishing (a CC BY 4.0 source such as "
                            "Nemotron-Personas-Japan asks for credit and the licence's name)")
        lines.append(f"| `{path}` | {', '.join(f['axes'])} | {f['rows']} | {f['sha256']} | "
                     f"{lic} |")
    return lines + [""], warnings
