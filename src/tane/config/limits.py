"""Size limits on text fields, documented in docs/engine.md ("Size limits").

- ``MAX_FIELD_CHARS``: the longest instruction / input / output (in characters) tane
  accepts. A seed with a longer field is an error naming its file, line and field; a row
  of a dataset given to ``tane curate`` / ``tane dedup`` (or a run's ``source:``) with a
  longer field is dropped with reason ``too_long`` and kept in the rejected file.
- ``MORPH_CHUNK_CHARS``: the morphological tokenizer (MeCab through fugashi) is never
  handed more than this many characters at once; longer text is cut into pieces at a
  sentence end or space where there is one (MeCab crashes the process, SIGSEGV, on runs
  of a few hundred thousand characters without a break).
"""

from __future__ import annotations

MAX_FIELD_CHARS = 100_000
MORPH_CHUNK_CHARS = 8_192
