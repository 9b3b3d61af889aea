"""Character-level diff (Japanese has no spaces to split words on)."""

from __future__ import annotations

from difflib import SequenceMatcher


def char_diff(a: str, b: str) -> list[tuple[str, str]]:
    """[(op, text)]: op is "=" (same), "-" (only in ``a``) or "+" (only in ``b``)."""
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("=", a[i1:i2]))
            continue
        if i2 > i1:
            out.append(("-", a[i1:i2]))
        if j2 > j1:
            out.append(("+", b[j1:j2]))
    return out


def field_diffs(before: dict[str, str], after: dict[str, str]
                ) -> list[tuple[str, list[tuple[str, str]]]]:
    """The diff of each field that changed."""
    return [(k, char_diff(before.get(k, ""), after.get(k, "")))
            for k in ("instruction", "input", "output")
            if before.get(k, "") != after.get(k, "")]
