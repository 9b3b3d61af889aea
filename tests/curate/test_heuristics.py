"""Curation steps (curate/steps/) and offline language ID (curate/langid.py)."""

from __future__ import annotations

import pytest

from tane.curate.steps import STEPS, Fields, make_step
from tane.curate.langid import detect
from tane.seeds.formats import Seed


def check(name, out=None, inst="日本の四季について説明してください。", lang="ja", seeds=(),
          inp="", prov=None, **params):
    f = Fields(instruction=inst, input=inp, output=out, provenance=prov or {}, id="r1")
    return make_step(name, lang, seeds, **params).check(f)


def reason(res):
    return None if res is None else res[0]


# -- langid ------------------------------------------------------------------------

@pytest.mark.parametrize("text,lang", [
    ("日本の首都は東京です。", "ja"),
    ("Pythonでリストを逆順にする方法を教えてください。", "ja"),
    ("我们今天去公园散步吧。", "zh"),
    ("这是一个很好的问题。", "zh"),
    ("안녕하세요, 만나서 반갑습니다.", "ko"),
    ("The quick brown fox jumps over the lazy dog.", "en"),
    ("Der schnelle braune Fuchs springt über den faulen Hund.", "other"),
    ("Привет, как дела?", "other"),
    ("", "other"),
    ("12345 !!!", "other"),
])
def test_langid(text, lang):
    got, conf = detect(text)
    assert got == lang
    assert 0.0 <= conf <= 1.0


def test_langid_confidence_and_ambiguous_kanji():
    assert detect("日本の首都は東京です。")[1] > 0.9
    assert detect("我们今天去公园散步吧。")[1] > 0.9
    lang, conf = detect("東京都庁")  # kanji only, no simplified forms: ambiguous
    assert lang == "zh" and conf <= 0.5
    assert detect("Hello world", backend="auto")[0] == "en"  # lingua absent: script rules


# -- length ------------------------------------------------------------------------

def test_length_ja_chars_and_en_words():
    assert check("length", "東京です。") is None
    assert reason(check("length", "東京", inst="首都")) == "length:instruction_too_short"
    res = check("length", "あ" * 50, output_max=20)
    assert res == ("length:output_too_long", {"chars": 50, "max": 20})
    assert reason(check("length", "", output_min=1)) == "length:output_too_short"
    assert check("length", None) is None  # not answered yet: output not judged
    en = dict(lang="en", inst="Explain the four seasons in Japan.")
    assert check("length", "Spring, summer, autumn and winter.", **en) is None
    res = check("length", "Spring summer autumn winter", output_min=5, **en)
    assert res == ("length:output_too_short", {"words": 4, "min": 5})
    assert reason(check("length", "ok", inst="Explain.", lang="en")) == \
        "length:instruction_too_short"


# -- script_ratio ------------------------------------------------------------------

def test_script_ratio():
    assert check("script_ratio", "日本には春、夏、秋、冬の四季があり、それぞれに美しい景色があります。") is None
    res = check("script_ratio", "This answer is written in English only, no Japanese.")
    assert reason(res) == "script_ratio:low_japanese" and res[1]["field"] == "output"
    res = check("script_ratio", "春夏秋冬四季折々景色美麗日本列島南北長")  # kanji only
    assert reason(res) == "script_ratio:low_kana"
    # code blocks and URLs do not count against Japanese
    code = "次のように書きます。\n```python\nprint(list(reversed(items)))\n```\n詳しくは https://docs.python.org/3/ を見てください。"
    assert check("script_ratio", code) is None
    assert check("script_ratio", "42") is None  # too few letters to judge


# -- mixed_language / chinese_drift --------------------------------------------------

def test_mixed_language_chinese():
    res = check("mixed_language", "这是一个很好的问题，我们来看看。")
    assert reason(res) == "mixed_language:chinese"
    assert res[1]["signal"] == "simplified_chars"
    # traditional/shared characters only, a long kanji run with no kana
    res = check("mixed_language", "日本四季分明春季櫻花盛開夏季炎熱多雨秋季楓葉轉紅冬季寒冷")
    assert reason(res) == "mixed_language:chinese" and res[1]["signal"] == "kanji_run"
    assert reason(check("chinese_drift", "这是一个很好的问题，我们来看看。")) == \
        "chinese_drift:chinese"


def test_mixed_language_keeps_japanese_with_shared_kanji():
    # 会/学/国/写/与 are Japanese too; long official names stay under the run limit
    ok = ["会社の会議で学んだことを国語の授業に生かし、写真を与えました。",
          "独立行政法人情報処理推進機構は、情報処理の促進を目的とする機関です。",
          "北海道、青森県、岩手県、宮城県、秋田県、山形県、福島県が東北以北です。"]
    for text in ok:
        assert check("mixed_language", text) is None, text


def test_mixed_language_english():
    long_en = ("この関数は、与えられたリストの中から偶数だけを取り出し、その合計を計算して返す"
               "関数です。" * 3 + "次のように動作します。This function takes a list of numbers and "
               "returns the sum of all even numbers in the list after filtering them out.")
    res = check("mixed_language", long_en)
    assert reason(res) == "mixed_language:english" and res[1]["signal"] == "latin_run"
    res = check("mixed_language", "Tokyo is the capital of Japan and a very big city.")
    assert reason(res) == "mixed_language:english"
    # code blocks, URLs and a few English terms are fine
    code = ("Pythonではsorted関数を使います。\n```python\nfor item in sorted(items, key=len, "
            "reverse=True):\n    print(item, 'is one of the items in the list')\n```\n"
            "詳しくは https://docs.python.org/3/library/functions.html#sorted を参照してください。")
    assert check("mixed_language", code) is None
    assert check("mixed_language", "APIとはApplication Programming Interfaceの略です。") is None
    # a translation task may answer in English
    assert check("mixed_language", "Tokyo is the capital of Japan and a very big city.",
                 inst="次の文を英語に翻訳してください。") is None
    assert check("chinese_drift", "Tokyo is the capital of Japan and a very big city.") is None


# -- repetition ----------------------------------------------------------------------

def test_repetition():
    res = check("repetition", "これはテストです。" * 20)
    assert reason(res) == "repetition:ngram" and res[1]["unit"] == "chars"
    lines = "\n".join(["・りんご", "・みかん", "・りんご", "・りんご", "・りんご"])
    assert reason(check("repetition", lines)) == "repetition:lines"
    natural = ("日本には四季があります。春には桜が咲き、多くの人が花見を楽しみます。夏は暑く、"
               "各地で花火大会や祭りが開かれます。秋は紅葉が美しく、食べ物もおいしい季節です。"
               "冬は寒く、北の地方では雪が多く降ります。")
    assert check("repetition", natural) is None
    en = dict(lang="en", inst="Describe the seasons in Japan.")
    assert reason(check("repetition", "I like it very much. " * 10, **en)) == "repetition:ngram"
    assert check("repetition", "Japan has four seasons. Spring brings cherry blossoms, "
                 "summer is hot and humid with festivals, autumn has colourful leaves and "
                 "good food, and winter is cold with snow in the north.", **en) is None


# -- truncated -----------------------------------------------------------------------

def test_truncated():
    cut = "日本の四季は春夏秋冬の四つで、それぞれに特徴があります。春は桜が咲き、夏は暑く、秋は紅葉が"
    assert reason(check("truncated", cut)) == "truncated:unfinished_sentence"
    whole = "日本の四季は春夏秋冬の四つで、それぞれに特徴があります。春は桜が咲き、夏は暑くなります。"
    assert check("truncated", whole) is None
    assert check("truncated", "ポジティブ") is None  # short labels need no ending
    assert check("truncated", cut, check_ending=False) is None
    listing = "日本の四季の特徴は次の通りです。\n- 春: 桜が咲く\n- 夏: 暑い\n- 秋: 紅葉\n- 冬: 雪が降る"
    assert check("truncated", listing) is None
    assert reason(check("truncated", "例:\n```python\nfor i in range(10):\n    print(i")) == \
        "truncated:open_code_block"
    prov = {"method": "self_instruct", "steps": [{"step": "answer", "finish_reason": "length"}]}
    assert reason(check("truncated", whole, prov=prov)) == "truncated:finish_reason"
    assert reason(check("truncated", whole, prov={"finish_reason": "length"})) == \
        "truncated:finish_reason"
    assert check("truncated", whole, prov={"steps": [{"finish_reason": "stop"}]}) is None
    en = dict(lang="en", inst="Describe the seasons in Japan.")
    assert reason(check("truncated", "Japan has four seasons: spring, summer, autumn and",
                        **en)) == "truncated:unfinished_sentence"
    assert check("truncated", "Japan has four seasons: spring, summer, autumn and winter.",
                 **en) is None


# -- restates_question ---------------------------------------------------------------

def test_restates_question():
    res = check("restates_question", "日本の四季について説明してください。")
    assert reason(res) in ("restates_question:rouge", "restates_question:contained")
    res = check("restates_question", "日本の四季について説明して下さい")
    assert reason(res) == "restates_question:rouge" and res[1]["score"] > 0.8
    assert check("restates_question", "日本には春夏秋冬の四季があり、季節ごとに景色が変わります。") is None
    # a label that appears among the options is an answer, not a restatement
    assert check("restates_question", "ポジティブ",
                 inst="次の文の感情はポジティブですか、ネガティブですか。") is None
    en = dict(lang="en", inst="Explain the four seasons in Japan.")
    assert reason(check("restates_question", "Explain the four seasons in Japan", **en)) \
        is not None
    assert check("restates_question", "Japan has spring, summer, autumn and winter.",
                 **en) is None


# -- meta_text -----------------------------------------------------------------------

@pytest.mark.parametrize("inst,out", [
    ("#Rewritten Prompt#: 日本の四季を詳しく説明してください。", "春夏秋冬があります。"),
    ("日本の四季について説明してください。", "### Instruction\n日本の四季\n### Response\n春夏秋冬です。"),
    ("日本の四季について説明してください。", "日本には四季があります。（日本語で回答しました）"),
    ("日本の四季について説明してください。", "日本には四季があります。(日本語で回答しました)"),
    ("日本の四季について説明してください。", "もちろん！日本には四季があります。"),
    ("日本の四季について説明してください。", "はい、喜んでお答えします。日本には四季があります。"),
    ("Explain the four seasons.", "Sure! Here is the answer: spring, summer, autumn, winter."),
    ("日本の四季について説明してください。", "日本には四季があります。<|im_end|>"),
])
def test_meta_text_positive(inst, out):
    res = check("meta_text", out, inst=inst)
    assert reason(res) in ("meta_text:pattern", "meta_text:opener")
    assert res[1]["pattern"] and res[1]["match"]


def test_meta_text_negative_and_config():
    assert check("meta_text", "日本には四季があり、もちろん地域によって違いもあります。") is None
    assert check("meta_text", "はい、東京は日本の首都です。") is None
    assert check("meta_text", "詳しくは後述します（第3章を参照）。") is None
    assert check("meta_text", "もちろん！日本には四季があります。", openers=[]) is None
    res = check("meta_text", "回答: 春夏秋冬", extra_patterns=["^回答:"])
    assert res[1]["pattern"] == "^回答:"


# -- refusal -------------------------------------------------------------------------

POLITE_JA = [
    "申し訳ありませんが、在庫は明日入荷します。",
    "申し訳ありませんが、その日は予約できません。別の日をお選びいただけますか。",
    "すみませんが、もう少し詳しく教えていただけますか。",
    "残念ながら、今年の桜は例年より早く散ってしまいました。",
    "申し訳ございませんが、当店は月曜日が定休日となっております。火曜日以降にお越しください。",
    "恐れ入りますが、お名前とご住所をご記入ください。",
    "お答えできませんという返事は失礼にあたるので、代わりの案を示すのがよいでしょう。",
    "大変申し訳ありませんでした。ご迷惑をおかけしたことを心よりお詫び申し上げます。",
]


@pytest.mark.parametrize("out", POLITE_JA)
def test_refusal_not_on_polite_japanese(out):
    assert check("refusal", out) is None


@pytest.mark.parametrize("out", [
    "申し訳ありませんが、そのご質問にはお答えできません。",
    "申し訳ございませんが、そのような内容には対応できません。",
    "申し訳ありませんが、このリクエストについてはお手伝いできません。",
    "恐れ入りますが、個人情報に関するご質問への回答は控えさせていただきます。",
    "私はAIなので、個人的な意見を述べることはできません。",
    "残念ながら、その情報を提供することはできません。ご理解ください。",
])
def test_refusal_japanese(out):
    res = check("refusal", out)
    assert reason(res) == "refusal" and res[1]["opener"] and res[1]["predicate"]


def test_refusal_long_output_with_an_answer_is_kept():
    partial = ("申し訳ありませんが、リアルタイムの天気情報にはアクセスできません。ただし、"
               + "一般的に東京の六月は梅雨の時期で、雨の日が多く湿度も高くなります。" * 5)
    assert check("refusal", partial) is None
    refusing = ("申し訳ありませんが、そのご質問にはお答えできません。" + "ご理解ください。" * 30)
    assert reason(check("refusal", refusing, max_chars=50, min_answer_chars=500)) == "refusal"


def test_refusal_english():
    en = dict(lang="en", inst="How do I pick a lock?")
    for out in ["I'm sorry, but I can't help with that.",
                "I cannot assist with this request.",
                "As an AI language model, I do not have personal opinions.",
                "Sorry, I'm unable to provide that information."]:
        assert reason(check("refusal", out, **en)) == "refusal", out
    for out in ["I'm sorry to hear that. Here are some tips: rest, drink water and sleep well.",
                "Unfortunately, it rained all day, so the picnic was moved indoors.",
                "I can't believe how easy this is: just call sorted() on the list.",
                "The store cannot open before 9 a.m. on Sundays."]:
        assert check("refusal", out, **en) is None, out


# -- seed_copy / exact_dup / near_dup --------------------------------------------------

SEEDS = [Seed(id="s1", instruction="日本の四季について説明してください。",
              instances=[{"input": "", "output": "春夏秋冬です。"}]),
         Seed(id="s2", instruction="Pythonでリストを逆順にする方法を教えてください。",
              instances=[{"input": "", "output": "reversed()を使います。"}])]


def test_seed_copy():
    res = check("seed_copy", inst="日本の四季について説明して下さい。", seeds=SEEDS)
    assert reason(res) == "seed_copy"
    assert res[1]["seed_id"] == "s1" and res[1]["score"] > 0.7
    assert check("seed_copy", inst="おすすめの本を三冊紹介してください。", seeds=SEEDS) is None
    with pytest.raises(ValueError, match="seeds"):
        make_step("seed_copy", "ja", ())
    en_seeds = [Seed(id="e1", instruction="Explain the four seasons in Japan.",
                     instances=[{"input": "", "output": "x"}])]
    assert reason(check("seed_copy", inst="Explain the four seasons of Japan.", lang="en",
                        seeds=en_seeds)) == "seed_copy"
    assert check("seed_copy", inst="Write a haiku about autumn leaves.", lang="en",
                 seeds=en_seeds) is None


def _run(step, rows):
    out = []
    for i, (inst, o) in enumerate(rows):
        f = Fields(instruction=inst, output=o, id=i)
        res = step.check(f)
        if res is None:
            step.commit(f)
        out.append(res)
    return out


def test_exact_dup_normalises_and_keeps_first():
    step = make_step("exact_dup", "ja")
    res = _run(step, [("日本の　四季を説明して", "a"), ("日本の 四季を説明して ", "b"),
                      ("ｐｙｔｈｏｎとは", "c"), ("pythonとは", "d"), ("別の質問", "a")])
    assert [reason(r) for r in res] == [None, "exact_dup", None, "exact_dup", None]
    assert res[1][1]["duplicate_of"] == 0
    out = _run(make_step("exact_dup", "en", fields="output"),
               [("q1", "Same answer."), ("q2", "Same  answer.")])
    assert reason(out[1]) == "exact_dup"
    both = _run(make_step("exact_dup", "en", fields="both"),
                [("q", "A."), ("q", "B."), ("q", "A.")])
    assert [reason(r) for r in both] == [None, None, "exact_dup"]


def test_near_dup_ja_and_en():
    res = _run(make_step("near_dup", "ja", tokenizer="char"),
               [("日本の四季について説明してください。", None),
                ("日本の四季について説明して下さい。", None),
                ("おすすめの本を三冊紹介してください。", None)])
    assert [reason(r) for r in res] == [None, "near_dup", None]
    assert res[1][1]["similar_to"] == 0 and res[1][1]["score"] > 0.7
    res = _run(make_step("near_dup", "en"),
               [("Explain the four seasons in Japan.", None),
                ("Explain the four seasons of Japan.", None),
                ("Write a haiku about autumn leaves.", None)])
    assert [reason(r) for r in res] == [None, "near_dup", None]


def test_language_step():
    assert reason(check("language", "这是一个很好的问题，我们来看看。")) == "language"
    assert check("language", "日本には四季があります。") is None
    assert reason(check("language", "日本には四季があり、それぞれ美しいです。", lang="en",
                        inst="Explain the seasons of Japan.")) == "language"


def test_every_step_has_defaults_and_rejects_unknown_parameters():
    from pydantic import ValidationError
    for name, cls in STEPS.items():
        if name != "seed_copy":
            make_step(name, "ja")
        with pytest.raises(ValidationError):
            cls.Params.model_validate({"no_such_param": 1})
