"""Packaging metadata: the licence as an SPDX expression with its file (PEP 639), and a
setuptools that reads it without a deprecation warning."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_licence_is_an_spdx_string_with_its_file():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["license"] == "Apache-2.0"
    files = project["license-files"]
    assert files and all(list(ROOT.glob(f)) for f in files)
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    # license = "SPDX" and license-files are read by setuptools 77 and later
    (req,) = [r for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    m = re.fullmatch(r"setuptools>=(\d+)", req)
    assert m and int(m.group(1)) >= 77
