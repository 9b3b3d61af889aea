"""Seed tasks: the human-written examples every generation method grows from.

``load_seeds(path, format="auto")`` reads .jsonl/.json/.csv/.xlsx files in the Self-Instruct,
ELYZA-tasks-100, ichikara or Alpaca layout, or the bundled sets ``bundled:ja`` / ``bundled:en``.
"""

from tane.seeds.formats import FORMATS, Seed
from tane.seeds.loader import bundled_seeds_path, load_seeds

__all__ = ["FORMATS", "Seed", "bundled_seeds_path", "load_seeds"]
