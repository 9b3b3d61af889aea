"""The user's documents for AgentInstruct: read .txt / .md / .html / .pdf files from a
folder and cut them into chunks of whole paragraphs under a size limit.

Text files are read as UTF-8 (a BOM is fine) or, failing that, Shift_JIS (CP932). HTML is
read with the standard library's parser (scripts, styles and other non-text elements are
left out; block elements end a paragraph). PDF text comes from ``pypdf`` (the ``docs``
extra). A file that cannot be read is a :class:`~tane.errors.TaneError` naming it (and the
line of a bad byte where there is one), or, with ``on_bad_file: skip``, a :class:`Skipped`
entry that the stage records as a drop.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from ..errors import TaneError
from ..schema import stable_hash

_BLOCK_TAGS = frozenset("""address article aside blockquote br dd div dl dt figcaption figure
footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table td th tr ul
title""".split())
_SKIP_TAGS = frozenset("script style noscript template svg head iframe object".split())
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;:])(?=\s)")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class Chunk:
    id: str           # "<relative path>#<index>"
    document: str     # path relative to the documents folder (posix)
    index: int
    text: str

    @property
    def digest(self) -> str:
        return stable_hash(self.text, 10)


@dataclass(frozen=True)
class Skipped:
    document: str
    reason: str       # unreadable_document | empty_document | short_chunk
    message: str
    text: str = ""


@dataclass
class Corpus:
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0


class _TextOfHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def decode_text(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        first = e
    try:
        text = raw.decode("cp932")
        # Python's CP932 maps a few bytes that are never Japanese text (0x80, 0xA0, 0xFD-0xFF)
        # to private-use characters: such a file is not Shift_JIS either
        if not re.search("[\ue000-\uf8ff]", text):
            return text
    except UnicodeDecodeError:
        pass
    line = raw[:first.start].count(b"\n") + 1
    raise TaneError(f"cannot read as UTF-8 or Shift_JIS (bad byte 0x{raw[first.start]:02x} "
                    f"at offset {first.start})", path=str(path), line=line)


def html_text(source: str) -> str:
    parser = _TextOfHTML()
    parser.feed(source)
    parser.close()
    return "".join(parser.parts)


def markdown_text(source: str) -> str:
    """Markdown to plain paragraphs: headings, emphasis, links and images lose their marks;
    code fences, HTML comments and table rules go."""
    t = re.sub(r"<!--.*?-->", "", source, flags=re.S)
    t = re.sub(r"^```.*?^```[^\n]*$", "", t, flags=re.S | re.M)
    t = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", t)
    t = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", t)
    t = re.sub(r"^[ \t]{0,3}#{1,6}[ \t]*", "", t, flags=re.M)
    t = re.sub(r"^[ \t]{0,3}(?:[-*+]|\d+[.)])[ \t]+", "", t, flags=re.M)
    t = re.sub(r"^[ \t]{0,3}>[ \t]?", "", t, flags=re.M)
    t = re.sub(r"^[ \t]*\|?[ \t]*:?-{3,}.*$", "", t, flags=re.M)
    t = re.sub(r"(\*\*|__|\*|`)(\S(?:.*?\S)?)\1", r"\2", t)
    return t


def pdf_text(path: Path) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise TaneError("reading PDF files needs pypdf: pip install 'tane[docs]'",
                        path=str(path)) from None
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise TaneError("the PDF is encrypted", path=str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except TaneError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise TaneError(f"cannot read the PDF: {type(e).__name__}: {e}",
                        path=str(path)) from None
    return "\n\n".join(pages)


def read_document(path: Path) -> str:
    """The plain text of one file; a TaneError naming the file when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_text(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TaneError(f"cannot read the file: {e.strerror or e}", path=str(path)) from None
    text = decode_text(raw, path)
    if suffix in (".html", ".htm"):
        return html_text(text)
    if suffix == ".md":
        return markdown_text(text)
    return text


def _join_lines(lines: list[str]) -> str:
    """Lines of one paragraph: a space between them unless one side is CJK (Japanese
    wrapped by an editor or a PDF joins without one)."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        if out and not (_CJK.match(out[-1]) or _CJK.match(line[0])):
            out += " "
        out += line
    return out


def paragraphs(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = re.split(r"\n[^\S\n]*\n", text)
    return [p for p in (_join_lines(b.split("\n")) for b in blocks) if p]


def _split_long(par: str, limit: int) -> list[str]:
    """A paragraph over the limit: cut between sentences, a sentence over it: hard cut."""
    pieces, cur = [], ""
    for sent in (s for s in _SENTENCE_END.split(par) if s):
        while len(sent) > limit:
            if cur:
                pieces.append(cur.strip())
                cur = ""
            pieces.append(sent[:limit].strip())
            sent = sent[limit:]
        if len(cur) + len(sent) > limit:
            pieces.append(cur.strip())
            cur = ""
        cur += sent
    if cur.strip():
        pieces.append(cur.strip())
    return [p for p in pieces if p]


def chunk_text(text: str, limit: int) -> list[str]:
    """Whole paragraphs packed greedily up to ``limit`` characters (a blank line between
    them); a paragraph longer than the limit is split at sentence ends."""
    chunks, cur = [], ""
    for par in paragraphs(text):
        for piece in _split_long(par, limit) if len(par) > limit else [par]:
            if cur and len(cur) + 2 + len(piece) > limit:
                chunks.append(cur)
                cur = ""
            cur = f"{cur}\n\n{piece}" if cur else piece
    if cur:
        chunks.append(cur)
    return chunks


def list_documents(folder: Path, file_types: list[str]) -> list[Path]:
    """Files of the given types under ``folder`` (recursively, hidden ones left out), in
    a fixed order."""
    kinds = {t.lower() for t in file_types}
    return sorted((p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in kinds
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts)),
                  key=lambda p: p.relative_to(folder).as_posix())


def load_corpus(folder: Path, file_types: list[str], chunk_chars: int, min_chunk_chars: int,
                skip_bad: bool) -> Corpus:
    if not folder.is_dir():
        raise TaneError("documents folder not found", path=str(folder), field="documents")
    corpus = Corpus()
    for path in list_documents(folder, file_types):
        rel = path.relative_to(folder).as_posix()
        corpus.files += 1
        try:
            text = read_document(path)
            pieces = chunk_text(text, chunk_chars)
            if not pieces:
                raise TaneError("no text in this document (a scanned PDF needs OCR first)",
                                path=str(path))
        except TaneError as e:
            if not skip_bad:
                raise
            reason = "empty_document" if "no text" in e.message else "unreadable_document"
            corpus.skipped.append(Skipped(rel, reason, e.one_line()))
            continue
        for i, piece in enumerate(pieces):
            if len(piece) < min_chunk_chars:
                corpus.skipped.append(Skipped(rel, "short_chunk", f"{rel}#{i}: {len(piece)} "
                                              f"characters (min_chunk_chars {min_chunk_chars})",
                                              piece))
                continue
            corpus.chunks.append(Chunk(f"{rel}#{i}", rel, i, piece))
    if corpus.files == 0:
        raise TaneError(f"no documents ({', '.join(file_types)}) in this folder",
                        path=str(folder), field="documents")
    if not corpus.chunks:
        why = ", ".join(f"{s.document}: {s.reason}" for s in corpus.skipped[:3])
        raise TaneError(f"no usable text in any document of this folder ({why})",
                        path=str(folder), field="documents")
    return corpus
