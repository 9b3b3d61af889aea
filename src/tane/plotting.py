"""Matplotlib set-up shared by every PNG chart tane draws (``tane stats``, ``tane eval
report``): the Agg backend without pyplot state, and labels that can be drawn.

Japanese labels need a font with Japanese glyphs. In order:

1. a system font that covers Japanese (``fc-list :lang=ja``, or a known family matplotlib
   already sees: Noto Sans CJK JP, IPAexGothic, Hiragino, Yu Gothic, ...);
2. IPAexGothic from the ``matplotlib-fontja`` package (a dependency of the ``report``
   extra; its font file is used directly, the package is not imported, so matplotlib's
   global settings are left alone);
3. none: non-ASCII labels are drawn as ids (``#1``, ``#2``, ...) by :class:`Labeler`,
   and the caller records the id -> label mapping.

Importing this module imports matplotlib: callers import it lazily and treat ImportError
as "no charts".
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
from matplotlib import font_manager
from matplotlib.figure import Figure

_KNOWN_JA = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "TakaoGothic",
             "Hiragino Sans", "Hiragino Maru Gothic Pro", "Yu Gothic", "Meiryo", "MS Gothic",
             "Source Han Sans JP", "VL Gothic", "Droid Sans Japanese")
_PROBE = "あア漢"


def _covers_japanese(path: str) -> bool:
    try:
        from matplotlib.ft2font import FT2Font

        font = FT2Font(path)
        cmap = font.get_charmap()
        return all(ord(c) in cmap for c in _PROBE)
    except Exception:  # noqa: BLE001 - unreadable/odd font files are simply skipped
        return False


def _fc_list_ja() -> list[str]:
    if not shutil.which("fc-list"):
        return []
    try:
        res = subprocess.run(["fc-list", ":lang=ja", "file"], capture_output=True, check=False,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    paths = [line.split(":")[0].strip() for line in res.stdout.splitlines() if line.strip()]
    return sorted(p for p in paths if re.search(r"\.(ttf|otf|ttc)$", p, re.IGNORECASE))


def _fontja_path() -> str | None:
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "fonts" / "ipaexg.ttf"
        if p.exists():
            return str(p)
    return None


@lru_cache(maxsize=1)
def find_japanese_font() -> dict[str, Any]:
    """{"family", "path", "source"} of a font with Japanese glyphs, or family None."""
    for path in _fc_list_ja():
        if _covers_japanese(path):
            try:
                font_manager.fontManager.addfont(path)
                name = font_manager.FontProperties(fname=path).get_name()
            except Exception:  # noqa: BLE001, S112 - a font that cannot load is skipped
                continue
            return {"family": name, "path": path, "source": "system (fc-list :lang=ja)"}
    for entry in font_manager.fontManager.ttflist:
        if entry.name in _KNOWN_JA and _covers_japanese(entry.fname):
            return {"family": entry.name, "path": entry.fname, "source": "system"}
    path = _fontja_path()
    if path and _covers_japanese(path):
        font_manager.fontManager.addfont(path)
        name = font_manager.FontProperties(fname=path).get_name()
        return {"family": name, "path": path, "source": "matplotlib-fontja (PyPI)"}
    return {"family": None, "path": None, "source": "none"}


class Labeler:
    """Maps labels to what can be drawn: themselves, or ids when no CJK font exists."""

    def __init__(self, can_cjk: bool):
        self.can_cjk = can_cjk
        self.ids: dict[str, str] = {}

    def __call__(self, label: str) -> str:
        label = str(label)
        if self.can_cjk or label.isascii():
            return label
        if label not in self.ids:
            self.ids[label] = f"#{len(self.ids) + 1}"
        return self.ids[label]


def rc(font: dict[str, Any]) -> dict[str, Any]:
    rc: dict[str, Any] = {"axes.unicode_minus": False}
    if font.get("family"):
        rc["font.family"] = [font["family"], "DejaVu Sans"]
    return rc


def save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
