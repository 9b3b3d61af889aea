"""AgentInstruct flows: documents (txt, md, html, a real PDF), chunking, seeded draws,
prompts, the taxonomy and its errors, output checks; the stage's rounds with a scripted
stand-in backend (drop reasons that a real model gives only by chance); and one short
document end to end on the embedded model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fakes import ScriptedBackend
from helpers import read_jsonl, read_stats, run_tane
from tane.config.agent_instruct import AGENTS, AgentInstructStage
from tane.errors import TaneError
from tane.llm.base import COMPLETION, Completion, LLMError, ModelInfo
from tane.methods.agent_documents import chunk_text, load_corpus, paragraphs, read_document
from tane.methods.agent_instruct import STRATEGIES, AgentInstruct
from tane.methods.agent_outputs import check, clean, copies_example
from tane.methods.agent_taxonomy import FORMATS, load_taxonomy, select_types
from tane.methods.base import StageContext, StageStats

JA_DOC = ("京都は日本の古い都である。794年に平安京が置かれ、千年以上にわたって都として栄えた。\n\n"
          "今では一年に五千万人をこえる観光客が訪れ、寺や神社を見て回る。特に秋の紅葉の季節はにぎわう。")


def make_pdf(path: Path, pages: list[list[str]]) -> None:
    """A real PDF, one page per list of lines, with a Type0 font and a ToUnicode map so
    that Japanese text can be extracted (no glyphs are embedded: text extraction only)."""
    chars = sorted({c for lines in pages for line in lines for c in line})
    code = {c: i + 1 for i, c in enumerate(chars)}
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            f"{len(chars)} beginbfchar\n"
            + "".join(f"<{code[c]:04X}> <{ord(c):04X}>\n" for c in chars)
            + "endbfchar endcmap CMapName currentdict /CMap defineresource pop end end")
    objs = {1: "<< /Type /Catalog /Pages 2 0 R >>",
            3: "<< /Type /Font /Subtype /Type0 /BaseFont /Plain /Encoding /Identity-H "
               "/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
            4: "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Plain /CIDSystemInfo "
               "<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 "
               "/FontDescriptor 6 0 R >>",
            5: f"<< /Length {len(cmap.encode())} >>\nstream\n{cmap}\nendstream",
            6: "<< /Type /FontDescriptor /FontName /Plain /Flags 4 /FontBBox [0 0 1000 1000] "
               "/ItalicAngle 0 /Ascent 1000 /Descent 0 /CapHeight 1000 /StemV 80 >>"}
    kids = []
    for i, lines in enumerate(pages):
        page, content = 7 + 2 * i, 8 + 2 * i
        ops = "BT /F1 12 Tf 72 740 Td " + " ".join(
            "<" + "".join(f"{code[c]:04X}" for c in line) + "> Tj 0 -18 Td"
            for line in lines) + " ET"
        objs[page] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                      f"{content} 0 R /Resources << /Font << /F1 3 0 R >> >> >>")
        objs[content] = f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream"
        kids.append(f"{page} 0 R")
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out, offsets = bytearray(b"%PDF-1.4\n"), {}
    for n in sorted(objs):
        offsets[n] = len(out)
        out += f"{n} 0 obj\n{objs[n]}\nendobj\n".encode()
    xref, size = len(out), max(objs) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offsets[n]:010d} 00000 n \n" for n in range(1, size)).encode()
    out += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


def docs(tmp_path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    d = tmp_path / "docs"
    d.mkdir(exist_ok=True)
    for name, body in (files or {"kyoto.txt": JA_DOC}).items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return d


def make(tmp_path: Path, seed: int = 0, llm=None, files=None, **cfg) -> AgentInstruct:
    folder = docs(tmp_path, files)
    stage = AgentInstructStage(method="agent_instruct", documents=str(folder), **cfg)
    ctx = StageContext("agent_instruct", llm, StageStats("agent_instruct"), [], seed, tmp_path)
    return AgentInstruct(stage, ctx)


# -- documents ----------------------------------------------------------------------------

def test_reads_each_document_type(tmp_path):
    html = ("<html><head><title>題</title><style>p {color: red}</style></head><body>"
            "<h1>茶の話</h1><p>緑茶は<b>七十度</b>ほどのお湯でいれる。</p><script>x = 1</script>"
            "<ul><li>玉露は低い温度。</li><li>ほうじ茶は熱いお湯。</li></ul>&amp; 以上。</body></html>")
    md = ("# 見出し\n\n本文の**強調**と[リンク](http://example.com)と`code`。\n\n"
          "```\nprint('skip')\n```\n\n- 項目一\n- 項目二\n<!-- メモ -->\n")
    folder = docs(tmp_path, {"a.txt": "\ufeff一行目\n二行目\n\n次の段落。", "b.html": html,
                             "c.md": md, "sjis.txt": "シフトJISの文書です。".encode("cp932")})
    make_pdf(folder / "d.pdf", [["京都は日本の古い都である。", "794年に平安京が置かれた。"],
                                ["Page two: tea is green."]])
    assert paragraphs(read_document(folder / "a.txt")) == ["一行目二行目", "次の段落。"]
    h = paragraphs(read_document(folder / "b.html"))
    assert h == ["茶の話", "緑茶は七十度ほどのお湯でいれる。", "玉露は低い温度。", "ほうじ茶は熱いお湯。",
                 "& 以上。"]
    m = paragraphs(read_document(folder / "c.md"))
    assert m == ["見出し", "本文の強調とリンクとcode。", "項目一項目二"]
    assert read_document(folder / "sjis.txt") == "シフトJISの文書です。"
    pdf = paragraphs(read_document(folder / "d.pdf"))
    assert pdf == ["京都は日本の古い都である。794年に平安京が置かれた。", "Page two: tea is green."]
    corpus = load_corpus(folder, [".txt", ".md", ".html", ".pdf"], 200, 5, False)
    assert [c.document for c in corpus.chunks] == ["a.txt", "b.html", "c.md", "d.pdf",
                                                   "sjis.txt"]
    assert corpus.chunks[3].id == "d.pdf#0" and corpus.files == 5
    only = load_corpus(folder, [".pdf"], 200, 5, False)
    assert [c.document for c in only.chunks] == ["d.pdf"]


@pytest.mark.parametrize("name,body,msg", [
    ("bad.txt", b"ok line\n\xff\xfe\xfa broken", "cannot read as UTF-8 or Shift_JIS"),
    ("pua.txt", b"ok\n\xff bad", "cannot read as UTF-8 or Shift_JIS"),  # CP932 maps 0xFF
    ("bad.pdf", b"%PDF-1.4\nthis is not a pdf", "cannot read the PDF"),
    ("empty.md", b"   \n\n", "no text in this document"),
])
def test_bad_file_is_one_line_error_or_recorded_skip(tmp_path, name, body, msg):
    folder = docs(tmp_path, {"good.txt": JA_DOC, name: body})
    with pytest.raises(TaneError) as e:
        load_corpus(folder, [".txt", ".md", ".pdf"], 600, 10, False)
    line = e.value.one_line()
    assert str(folder / name) in line and msg in line and "\n" not in line
    if name.endswith(".txt"):
        assert e.value.line == 2  # the line of the bad byte
    corpus = load_corpus(folder, [".txt", ".md", ".pdf"], 600, 10, True)
    assert [c.document for c in corpus.chunks] == ["good.txt"]
    assert [(s.document, s.reason) for s in corpus.skipped] == [
        (name, "empty_document" if name == "empty.md" else "unreadable_document")]
    assert msg in corpus.skipped[0].message


def test_folder_errors(tmp_path):
    with pytest.raises(TaneError, match="documents folder not found"):
        load_corpus(tmp_path / "nope", [".txt"], 600, 10, False)
    folder = docs(tmp_path, {"x.csv": "a,b"})
    with pytest.raises(TaneError, match="no documents"):
        load_corpus(folder, [".txt"], 600, 10, False)
    folder = docs(tmp_path, {"tiny.txt": "短い。"})
    with pytest.raises(TaneError, match=r"no usable text .*\(tiny.txt: short_chunk\)"):
        load_corpus(folder, [".txt"], 600, 10, False)
    # the stage names the recipe field
    with pytest.raises(TaneError) as e:
        AgentInstruct(AgentInstructStage(method="agent_instruct", documents="nope"),
                      StageContext("a", None, StageStats("a"), [], 0, tmp_path))
    assert e.value.field == "documents"


def test_chunking_packs_paragraphs_under_the_limit():
    pars = ["あ" * 30 + "。", "い" * 30 + "。", "う" * 30 + "。"]
    text = "\n\n".join(pars)
    assert chunk_text(text, 70) == [pars[0] + "\n\n" + pars[1], pars[2]]
    assert chunk_text(text, 1000) == [text]
    # a long paragraph splits at sentence ends, a long sentence is cut hard
    long = "一文目です。" * 10 + "終" * 50
    pieces = chunk_text(long, 40)
    assert all(len(p) <= 40 for p in pieces) and "".join(pieces) == long
    assert pieces[0] == "一文目です。" * 6
    # English sentences keep their spaces; CJK lines join without one
    en = chunk_text("First one. Second one is here.\nWrapped line.", 20)
    assert en[0] == "First one." and all(len(p) <= 20 for p in en)
    assert paragraphs("日本\n語の文\n\nan\nexample") == ["日本語の文", "an example"]


def test_short_chunks_are_recorded(tmp_path):
    folder = docs(tmp_path, {"a.txt": "短い。", "b.txt": JA_DOC})
    corpus = load_corpus(folder, [".txt"], 600, 10, False)
    assert [c.id for c in corpus.chunks] == ["b.txt#0"]
    assert [(s.document, s.reason, s.text) for s in corpus.skipped] == [
        ("a.txt", "short_chunk", "短い。")]


# -- draws --------------------------------------------------------------------------------

def test_draws_are_seeded_cover_chunks_and_never_repeat_a_pair(tmp_path):
    files = {f"d{i}.txt": f"文書{i}の本文です。" + "内容を書きます。" * 10 for i in range(3)}
    a = make(tmp_path, seed=1, files=files, question_types=["literal", "numerical", "flaw"])
    b = make(tmp_path, seed=1, files=files, question_types=["literal", "numerical", "flaw"])
    c = make(tmp_path, seed=2, files=files, question_types=["literal", "numerical", "flaw"])
    n = a.total_draws
    assert n == 3 * len(AGENTS) * 3
    def key(d):
        return (d.chunk.id, d.agent, d.qtype.key)

    seq = [key(a.draw(i)) for i in range(n)]
    assert seq == [key(b.draw(i)) for i in range(n)] and seq != [key(c.draw(i)) for i in range(n)]
    assert len(set(seq)) == n and a.draw(n) is None
    # each pass over the chunks uses every chunk once
    for p in range(5):
        assert sorted(s[0] for s in seq[p * 3:(p + 1) * 3]) == ["d0.txt#0", "d1.txt#0",
                                                                 "d2.txt#0"]
    assert {s[1] for s in seq[:30]} >= {"identity", "debate", "poem"}
    only = make(tmp_path, seed=1, files=files, agents=["poem", "identity"],
                question_types=["literal"])
    assert {only.draw(i).agent for i in range(only.total_draws)} == {"poem", "identity"}
    assert a.draw(0).id == b.draw(0).id and a.draw(0).id.startswith("ai-")


def test_refinement_strategies_fit_the_format(tmp_path):
    st = make(tmp_path, seed=3, question_types=["inference", "literal"])
    mc = next(st.draw(i) for i in range(st.total_draws) if st.draw(i).qtype.key == "inference")
    lit = next(st.draw(i) for i in range(st.total_draws) if st.draw(i).qtype.key == "literal")
    assert {st.strategy(mc, k) for k in range(1, 40)} == set(STRATEGIES)
    assert {st.strategy(lit, k) for k in range(1, 40)} == {"unanswerable", "change_answer"}
    assert st.strategy(mc, 1) == make(tmp_path, seed=3, question_types=["inference",
                                                                        "literal"]).strategy(mc, 1)


# -- prompts ------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("agent", [a for a in AGENTS if a != "identity"])
def test_transform_prompt_per_agent(tmp_path, lang, agent):
    st = make(tmp_path, mode=lang, agents=[agent], question_types=["literal"])
    d = st.draw(0)
    text, fixed = st.render("transform", d)
    assert d.agent == agent and text.endswith(JA_DOC + "\n### " + text.rsplit("### ", 1)[1])
    assert JA_DOC not in fixed and text.count("### ") == 4
    assert st.transforms[agent].id.startswith(f"agent_instruct/{lang}_transform_{agent}.j2@")


@pytest.mark.parametrize("lang,qtype,marker", [
    ("ja", "inference", "A. 土日の利用者も一割増えた。"), ("ja", "critical_true_false", "正しいですか"),
    ("ja", "numerical", "何時間違いますか"), ("en", "sequencing", "Put these events in order"),
    ("en", "inference", "Give four options, A to D")])
def test_question_prompt_shows_the_type_and_a_matching_example(tmp_path, lang, qtype, marker):
    st = make(tmp_path, mode=lang, question_types=[qtype])
    d = st.draw(0)
    text, fixed = st.render("question", d, text="変換後の文章。")
    desc = st.type_vars(d.qtype)["type_description"]
    assert marker in text and desc in text and text.rstrip().endswith(
        "### 問題:" if lang == "ja" else "### Question:")
    name = st.type_vars(d.qtype)["type_name"]
    tail = (f"### 問題の種類: {name}（{desc}）\n### 問題:" if lang == "ja" else
            f"### Question type: {name} ({desc})\n### Question:")
    assert text.endswith(tail) and "変換後の文章。" in text and "変換後の文章。" not in fixed
    assert fixed.endswith("### 問題の種類: （）\n### 問題:" if lang == "ja" else
                          "### Question type:  ()\n### Question:")
    # completion: text ending in a newline; chat: a user message
    assert st._wrap(text).endswith("\n")
    chat = make(tmp_path, mode=lang, question_types=[qtype], prompt_style="chat")
    assert chat._wrap(text) == [{"role": "user", "content": text}]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_suggest_and_edit_prompts(tmp_path, strategy):
    st = make(tmp_path, question_types=["inference"])
    d = st.draw(0)
    s, _ = st.render("suggest", d, text="本文。", question="問い？", strategy=strategy)
    e, _ = st.render("edit", d, text="本文。", question="問い？", strategy=strategy,
                     suggestion="提案です。")
    plan = {"unanswerable": "答えられない", "change_answer": "答えが変わる",
            "harder_options": "まぎらわしい"}[strategy]
    assert plan in s.rsplit("### 文章:", 1)[1] and s.rstrip().endswith("### 提案:")
    assert "### 元の問題:\n問い？\n### 提案:\n提案です。\n### 書き換えた問題:" in e
    a, _ = st.render("answer", d, text="本文。", question="問い？")
    assert a.endswith("### 文章:\n本文。\n### 問題:\n問い？\n### 答え:")
    assert "分かりません" in a  # shows how to answer when the text does not say


def test_template_override_and_unknown_name(tmp_path):
    mine = tmp_path / "poem.j2"
    mine.write_text("詩にして: {{ text }}", encoding="utf-8")
    st = make(tmp_path, agents=["poem"], templates={"ja_transform_poem": str(mine)})
    assert st.render("transform", st.draw(0))[0] == "詩にして: " + JA_DOC
    with pytest.raises(TaneError, match="no template of this name"):
        make(tmp_path, agents=["poem"], templates={"ja_transform_debate": str(mine)})


# -- taxonomy -----------------------------------------------------------------------------

def test_builtin_reading_comprehension_types():
    skills = load_taxonomy()
    rc = skills["reading_comprehension"].types
    for key in ("literal", "numerical", "critical_true_false", "strengthen", "weaken",
                "assumption", "flaw", "inference", "sequencing", "vocabulary", "main_point"):
        assert key in rc
    assert len(rc) >= 20 and all(t.format in FORMATS for t in rc.values())
    assert all(t.description.get("ja") and t.description.get("en") for t in rc.values())
    assert select_types(skills, "reading_comprehension", ["flaw", "flaw"], "ja")[0].key == "flaw"


def test_user_taxonomy_adds_skills_and_types(tmp_path):
    user = tmp_path / "tax.yaml"
    user.write_text("""skills:
  reading_comprehension:
    types:
      timeline:
        format: ordering
        description: {ja: 出来事を年代順に並べさせる, en: put the events in date order}
  summarising:
    name: 要約
    types:
      one_line:
        format: short_answer
        name: {ja: 一行要約}
        description: 文章を一行で要約させる
""", encoding="utf-8")
    skills = load_taxonomy(user)
    assert "timeline" in skills["reading_comprehension"].types
    assert skills["reading_comprehension"].types["timeline"].origin == f"{user}:4"
    st = make(tmp_path, taxonomy=str(user), skill="summarising")
    d = st.draw(0)
    assert d.qtype.key == "one_line" and "文章を一行で要約させる" in st.render(
        "question", d, text="x")[0]
    # relative to the recipe's folder, like every other path of a recipe
    rel = make(tmp_path, taxonomy="tax.yaml", question_types=["timeline"])
    assert rel.types[0].key == "timeline"


@pytest.mark.parametrize("body,line,field,msg", [
    (("skills:\n  reading_comprehension:\n    types:\n      literal:\n        format: list\n"
      "        description: x\n"), 4, "skills.reading_comprehension.types.literal",
     "already defined at agent_instruct/taxonomy.yaml:"),
    ("skills:\n  rc2:\n    types:\n      t1:\n        format: poem\n        description: x\n",
     5, "skills.rc2.types.t1.format", "format must be one of"),
    ("skills:\n  rc2:\n    types:\n      t1:\n        format: list\n", 5,
     "skills.rc2.types.t1.description", "missing key 'description'"),
    ("skills:\n  rc2:\n    types:\n      t1:\n        format: list\n        descr: x\n", 6,
     "skills.rc2.types.t1.descr", "unknown key"),
    ("skills:\n  rc2:\n    typez: {}\n", 3, "skills.rc2.typez", "unknown key"),
    ("skills:\n  Bad-Name:\n    types: {}\n", 2, "skills.Bad-Name", "lower-case"),
    (("skills:\n  rc2:\n    types:\n      t1:\n        format: list\n"
      "        description: {japanese: x}\n"), 6, "skills.rc2.types.t1.description.japanese",
     "not a language code"),
    ("skill:\n  rc2: {}\n", 1, "skill", "unknown key"),
    ("skills: [1, 2\n", 2, None, "invalid YAML"),
])
def test_taxonomy_errors_name_file_line_and_field(tmp_path, body, line, field, msg):
    user = tmp_path / "tax.yaml"
    user.write_text(body, encoding="utf-8")
    with pytest.raises(TaneError) as e:
        load_taxonomy(user)
    one = e.value.one_line()
    assert one.startswith(f"{user}:{line}: ") and msg in one
    if field:
        assert f"field '{field}'" in one


def test_stage_level_taxonomy_errors(tmp_path):
    user = tmp_path / "tax.yaml"
    user.write_text("skills:\n  jp_only:\n    types:\n      t1:\n        format: list\n"
                    "        description: {ja: 日本語だけ}\n", encoding="utf-8")
    with pytest.raises(TaneError) as e:
        make(tmp_path, taxonomy=str(user), skill="jp_only", mode="en")
    assert e.value.one_line().startswith(f"{user}:4: field 'skills.jp_only.types.t1."
                                         "description': type 't1' has no description in 'en'")
    with pytest.raises(TaneError) as e:
        make(tmp_path, question_types=["literal", "nope"])
    assert e.value.field == "question_types.1" and "unknown type 'nope'" in e.value.message
    with pytest.raises(TaneError) as e:
        make(tmp_path, skill="coding")
    assert e.value.field == "skill"
    with pytest.raises(TaneError, match="taxonomy file not found"):
        make(tmp_path, taxonomy="missing.yaml")


# -- output checks ------------------------------------------------------------------------

def _c(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish)


def test_output_checks():
    fixed = "### 問題:\n平日と土曜日とでは、図書館の開いている時間は何時間違いますか。\n### 答え:\n文章からは分かりません。書かれていません。"
    assert clean("### 問題:\n問題: 京都はどこ？\n### 文章:\n続き", label=True) == "京都はどこ？"
    assert check(_c(" 。、\n"), "transformation")[1] == "empty_transformation"
    assert check(_c("平日と土曜日とでは、図書館の開いている時間は何時間違いますか。"), "question",
                 fixed, "京都の文")[1] == "copied_example_question"
    # a short fair answer that also appears in the example is not a copy
    assert check(_c("文章からは分かりません。"), "answer", fixed, "京都の文")[1] == ""
    assert not copies_example("京都は古い都である。", fixed, "京都は古い都である。")
    assert check(_c("正しいのはどれ？"), "question", fmt="multiple_choice")[1] == \
        "unparseable_question"
    assert check(_c("正しいのはどれ？\nA. 一\nB. 二\nC. 三"), "question",
                 fmt="multiple_choice")[1] == ""
    assert check(_c("正しいのはどれ？\n① 一\n② 二"), "edit", fmt="multiple_choice")[1] == ""
    assert check(_c("京都はどこ？"), "edit", before="京都は どこ？")[1] == "unchanged_edit"
    assert check(_c("答えが毎週変わる問いにする。"), "edit", before="京都はどこ？",
                 echoes=("答えが毎週変わる問いにする。",))[1] == "copied_input_edit"
    assert check(_c("京都はどこ？"), "answer", echoes=("京都はどこ？",))[1] == \
        "copied_input_answer"
    assert check(_c("794年に平安京が置かれ、"), "question", source=JA_DOC)[1] == \
        "copied_input_question"
    assert check(_c("794年に平安京が置かれたのはなぜか。"), "question", source=JA_DOC)[1] == ""


# -- the stage, with a scripted mock backend ---------------------------------------------

class Steps:
    """Script of a mock backend (`ScriptedBackend`, no model): answers each step by the
    header its prompt ends with, with the next reply queued for that step (`left`).
    "ERROR" raises the error a failed call gives; "LENGTH:text" is a reply cut off by
    max_tokens."""

    HEADERS = {"### 問題:": "question", "### 提案:": "suggest",
               "### 書き換えた問題:": "edit", "### 答え:": "answer"}

    def __init__(self, replies: dict[str, list[str]]):
        self.left = {k: list(v) for k, v in replies.items()}

    def __call__(self, kind, prompt, params):
        assert kind == COMPLETION, kind
        last = prompt.rstrip().rsplit("\n", 1)[-1]
        reply = self.left[self.HEADERS.get(last, "transform")].pop(0)
        if reply == "ERROR":
            return LLMError("http_500", retryable=True)
        if reply.startswith("LENGTH:"):
            return Completion(text=reply[7:], finish_reason="length")
        return Completion(text=reply, finish_reason="stop")


def scripted(replies: dict[str, list[str]]) -> tuple[ScriptedBackend, Steps]:
    steps = Steps(replies)
    info = ModelInfo(id="scripted", revision="r0", license="none", backend="scripted")
    return ScriptedBackend(steps, info=info), steps


def _round(st, r, need):
    return asyncio.run(st.round(r, need))


def test_round_records_provenance_and_every_drop(tmp_path):
    llm, _ = scripted({
        "transform": ["ユキ: 京都は古い都なの？\nケン: そうだよ。794年からだ。"],
        "question": ["京都に都が置かれたのは何年ですか。", "LENGTH:京都の", "京都に都が置かれたのは何年か。",
                     "観光客は一年に何人訪れますか。"],
        "suggest": ["文章にない年をたずねる。", "ERROR", "人数ではなく割合をたずねる。"],
        "edit": ["京都に都が移る前の都はどこですか。", "観光客のうち外国人は何割ですか。"],
        "answer": ["文章からは分かりません。", "文章からは分かりません。"],
    })
    st = make(tmp_path, seed=4, llm=llm, agents=["conversation", "identity"],
              question_types=["literal", "numerical", "main_point"], request_batch_size=4,
              novelty={"threshold": 0.7, "scope": "chunk"})
    draws = [st.draw(i) for i in range(4)]
    batch = _round(st, 0, 1)
    reasons = sorted(d.reason for d in batch.drops)
    # 4 draws: one truncated question, one dropped as over target after the first was kept;
    # and one failed suggestion (its question was kept unrefined) ...
    assert "truncated_question" in reasons and "llm_error:http_500" in reasons
    assert len(batch.records) == 1 and "over_target" in reasons
    rec = batch.records[0]
    p = rec.provenance.model_dump()
    d0 = next(d for d in draws if d.id == rec.id)
    assert p["method"] == "agent_instruct" and p["model"] == "scripted"
    assert p["document"] == "kyoto.txt" and p["chunk_id"] == "kyoto.txt#0"
    assert p["agent"] == d0.agent and p["question_type"] == d0.qtype.key
    assert p["skill"] == "reading_comprehension" and p["refinement_rounds_asked"] == 1
    assert p["refinement_rounds"] == len(p["refinements"]) == 1
    assert p["refinements"][0]["strategy"] in STRATEGIES
    assert rec.instruction != p["refinements"][0]["before"]
    assert rec.output == "文章からは分かりません。"
    assert rec.input == (JA_DOC if d0.agent == "identity" else
                         "ユキ: 京都は古い都なの？\nケン: そうだよ。794年からだ。")
    assert p["template"].startswith("agent_instruct/ja_question.j2@")
    assert p["answer_template"].startswith("agent_instruct/ja_answer.j2@")
    for d in batch.drops:
        assert d.record_id in {x.id for x in draws} and d.detail["document"] == "kyoto.txt"
    failed = next(d for d in batch.drops if d.reason == "llm_error:http_500")
    assert failed.detail["step"] == "suggest" and failed.detail["question_kept"] is True


def test_round_near_duplicate_and_transformation_failure(tmp_path):
    llm, steps = scripted({
        "transform": ["LENGTH:ユキ: 京都は"],
        "question": ["京都に都が置かれたのは何年ですか。", "京都に都が置かれたのは何年ですか？"],
        "answer": ["794年です。"],
    })
    st = make(tmp_path, seed=0, llm=llm, agents=["identity", "poem"],
              question_types=["literal", "numerical"], refinement_rounds=0,
              request_batch_size=4)
    batch = _round(st, 0, 5)
    reasons = sorted(d.reason for d in batch.drops)
    # both poem draws share one failed transformation (one call), both identity draws ask
    assert reasons == ["near_duplicate", "truncated_transformation", "truncated_transformation"]
    assert len(steps.left["transform"]) == 0 and len(batch.records) == 1
    dup = next(d for d in batch.drops if d.reason == "near_duplicate")
    assert dup.detail["max_rouge"] > 0.7 and dup.detail["similar"]
    assert batch.records[0].provenance.model_dump()["refinement_rounds"] == 0
    # draws run out: a later round asks nothing
    empty = _round(st, 99, 5)
    assert empty.records == [] and empty.drops == []


def test_a_failed_answer_lets_the_next_question_in(tmp_path):
    llm, steps = scripted({
        "question": ["京都に都が置かれたのは何年ですか。", "紅葉の季節はいつですか。", "観光客は何人ですか。"],
        "answer": ["LENGTH:七九", "秋です。"],
    })
    st = make(tmp_path, seed=0, llm=llm, agents=["identity"], refinement_rounds=0,
              request_batch_size=3, question_types=["literal", "numerical", "paradox"])
    batch = _round(st, 0, 1)
    assert [r.output for r in batch.records] == ["秋です。"]
    assert [d.reason for d in batch.drops] == ["truncated_answer", "over_target"]
    assert batch.records[0].instruction == "紅葉の季節はいつですか。"
    assert batch.drops[1].text == "観光客は何人ですか。" and steps.left["answer"] == []
    assert len(batch.records) + len(batch.drops) == 3


def test_skipped_files_are_drops_in_round_zero(tmp_path):
    llm, _ = scripted({"question": ["LENGTH:x", "LENGTH:y"]})
    st = make(tmp_path, llm=llm, files={"k.txt": JA_DOC, "bad.txt": b"\xff\xfe\xfa"},
              on_bad_file="skip", agents=["identity"], request_batch_size=1,
              refinement_rounds=0)
    batch = _round(st, 0, 1)
    assert [(d.reason, d.detail["document"]) for d in batch.drops] == [
        ("unreadable_document", "bad.txt"), ("truncated_question", "k.txt")]
    assert "cannot read as UTF-8" in batch.drops[0].detail["message"]
    assert _round(st, 1, 1).drops[0].reason != "unreadable_document"


# -- end to end on the embedded model -----------------------------------------------------

E2E = """\
name: agent-e2e
seed: {seed}
target: 2
stages:
  - method: agent_instruct
    mode: ja
    documents: docs
    chunk_chars: 300
    agents: [identity, conversation]
    question_types: [literal, numerical, critical_true_false, literal_list, paradox,
                     author_purpose]
    refinement_rounds: 1
    request_batch_size: 2
    max_rounds: 6
    transform_sampling: {{temperature: 0.7, top_p: 0.95, max_tokens: 120}}
    question_sampling: {{temperature: 0.5, top_p: 0.9, max_tokens: 60}}
    refine_sampling: {{temperature: 0.5, top_p: 0.9, max_tokens: 60}}
    answer_sampling: {{temperature: 0.3, top_p: 0.9, max_tokens: 80}}
"""


@pytest.mark.slow
def test_agent_instruct_end_to_end_embedded(tmp_path):
    docs(tmp_path)
    recipe = tmp_path / "ai.yaml"
    recipe.write_text(E2E.format(seed=2), encoding="utf-8")
    out = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(out), "--no-progress", timeout=1500)
    assert res.returncode == 0, res.stderr
    rows = read_jsonl(out / "dataset.jsonl")
    dropped = read_jsonl(out / "rejected.jsonl")
    stats = read_stats(out)["stages"]["agent_instruct"]
    assert 1 <= len(rows) <= 2 and stats["llm_calls"] > 0
    for row in rows:
        p = row["provenance"]
        assert row["id"].startswith("ai-") and row["instruction"] and row["output"]
        assert p["method"] == "agent_instruct" and p["model"] and p["license"]
        assert p["document"] == "kyoto.txt" and p["chunk_id"] == "kyoto.txt#0"
        assert p["agent"] in ("identity", "conversation") and p["skill"] == "reading_comprehension"
        assert p["question_type"] in ("literal", "numerical", "critical_true_false",
                                      "literal_list", "paradox", "author_purpose")
        assert p["refinement_rounds_asked"] == 1 and p["refinement_rounds"] in (0, 1)
        if p["agent"] == "identity":
            assert row["input"] == JA_DOC
    known = ("truncated_", "empty_", "copied_example_", "copied_input_", "unparseable_",
             "unchanged_",
             "near_duplicate", "over_target", "llm_error:")
    for d in dropped:
        assert d["reason"].startswith(known) and d["detail"]["chunk_id"] == "kyoto.txt#0"
    assert sum(stats["dropped"].values()) == len(dropped)
    assert stats["items_in"] == stats["kept"] + len(dropped)
    print(json.dumps({"kept": len(rows), "dropped": stats["dropped"]}, ensure_ascii=False))


def test_shipped_recipe_and_sample_documents_load():
    from tane.pipeline.runner import Runner
    from tane.recipe import load_recipe
    path = Path(__file__).resolve().parents[2] / "recipes" / "agent_instruct_ja.yaml"
    runner = Runner(load_recipe(path), "unused", base_dir=path.parent)
    st = runner.stages[0]
    assert isinstance(st, AgentInstruct) and st.corpus.skipped == []
    assert sorted({c.document for c in st.chunks}) == ["bousai.txt", "ocha.html", "satoyama.md"]
    assert all(len(c.text) <= st.cfg.chunk_chars for c in st.chunks)
    assert "console.log" not in " ".join(c.text for c in st.chunks)  # scripts left out
    assert len(st.types) >= 20 and len(st.combos) == len(AGENTS) * len(st.types)
