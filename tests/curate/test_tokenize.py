"""Tokenizers for ROUGE-L dedup: English, Japanese, rouge_score parity, morph fallback."""

from __future__ import annotations

import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tane.curate import tokenize as tok
from tane.curate.tokenize import (
    char_tokenize,
    get_tokenizer,
    resolve_tokenizer_name,
    rouge_tokenize,
)
from tane.errors import TaneError

rouge_tokenize_ref = pytest.importorskip("rouge_score.tokenize").tokenize

JA = "今日は、いい天気ですね。散歩に行きましょう！"
EN = "Write a SHORT poem (about 3 cats) -- please!"


def test_rouge_english():
    assert get_tokenizer("rouge")(EN) == ["write", "a", "short", "poem", "about", "3", "cats",
                                          "please"]


def test_rouge_is_blind_to_japanese():
    assert get_tokenizer("rouge")(JA) == []
    assert get_tokenizer("rouge")("GPT-4で要約して") == ["gpt", "4"]


def test_whitespace_nfkc():
    f = get_tokenizer("whitespace")
    assert f("Ｈｅｌｌｏ　ｗｏｒｌｄ  ２０２４") == ["Hello", "world", "2024"]
    assert f(EN) == ["Write", "a", "SHORT", "poem", "(about", "3", "cats)", "--", "please!"]
    assert f(JA) == ["今日は、いい天気ですね。散歩に行きましょう!"]  # NFKC: ！ -> !


def test_char_drops_space_and_punctuation():
    f = get_tokenizer("char")
    assert f("今日は、いい天気。") == ["今", "日", "は", "い", "い", "天", "気"]
    assert f("Hi, you!") == ["H", "i", "y", "o", "u"]
    assert f("ｶﾀｶﾅ　１２") == ["カ", "タ", "カ", "ナ", "1", "2"]  # NFKC
    assert f("「」、。！？・…") == []


def test_morph_japanese():
    if not tok.morph_available():
        pytest.skip("fugashi/unidic-lite not installed")
    words = get_tokenizer("morph")(JA)
    assert "天気" in words and "散歩" in words
    assert not {"、", "。", "!", "！"} & set(words)
    assert get_tokenizer("morph")("Hello,  world!") == ["Hello", "world"]
    assert resolve_tokenizer_name("morph") == "morph"


def test_auto_by_language():
    assert get_tokenizer("auto", "en")(JA) == []
    assert get_tokenizer("auto", "en")(EN) == rouge_tokenize(EN)
    assert get_tokenizer("auto", "zh")("你好，世界") == ["你", "好", "世", "界"]
    assert get_tokenizer("auto", "ko")("안녕 하세요") == ["안", "녕", "하", "세", "요"]
    assert resolve_tokenizer_name("auto", "en-US") == "rouge"
    assert resolve_tokenizer_name("auto", "fr") == "whitespace"
    assert resolve_tokenizer_name("auto", "ru") == "whitespace"
    assert resolve_tokenizer_name("auto", "zh-TW") == "char"
    ja_name = resolve_tokenizer_name("auto", "ja-JP")
    assert ja_name == ("morph" if tok.morph_available() else "char")
    assert get_tokenizer("auto", "ja")(JA) == get_tokenizer(ja_name)(JA)


def test_auto_without_language_detects_per_text():
    f = get_tokenizer("auto")
    ja_name = "morph" if tok.morph_available() else "char"
    assert f(EN) == rouge_tokenize(EN)
    assert f(JA) == get_tokenizer(ja_name)(JA)
    assert f("カタカナだけ") == get_tokenizer(ja_name)("カタカナだけ")
    assert f("안녕하세요") == char_tokenize("안녕하세요")
    assert f("Привет, как дела") == ["Привет,", "как", "дела"]   # rouge would see nothing
    assert resolve_tokenizer_name("auto") == \
        f"auto:ja={ja_name},ko/th=char,ascii=rouge,other=whitespace"


def test_auto_named_language_without_ascii_tokens_sees_words():
    ru = "Объясните, что такое дисперсия"
    assert rouge_tokenize(ru) == []
    assert get_tokenizer("auto", "ru")(ru) == ["Объясните,", "что", "такое", "дисперсия"]


def test_unknown_tokenizer_name():
    with pytest.raises(TaneError) as info:
        get_tokenizer("bpe")
    assert info.value.field == "tokenizer"
    for name in ("auto", "char", "morph", "whitespace", "rouge"):
        assert name in str(info.value)
    with pytest.raises(TaneError):
        resolve_tokenizer_name("Char")


def test_simulated_fault_morph_falls_back_to_char_without_fugashi(monkeypatch):
    """Simulated fault: fugashi cannot be imported (import returns ImportError)."""
    monkeypatch.setattr(tok, "_tagger_cache", {})
    monkeypatch.setitem(sys.modules, "fugashi", None)  # makes `import fugashi` fail
    with pytest.warns(UserWarning, match="falling back to 'char'") as record:
        f = get_tokenizer("morph")
    assert len(record) == 1
    assert f(JA) == char_tokenize(JA)
    assert resolve_tokenizer_name("morph") == "char"
    assert resolve_tokenizer_name("auto", "ja") == "char"
    with pytest.warns(UserWarning):
        auto = get_tokenizer("auto")
    assert auto(JA) == char_tokenize(JA)
    assert auto(EN) == rouge_tokenize(EN)


def test_simulated_fault_unidic_lite_missing(monkeypatch):
    """Simulated fault: fugashi present but unidic-lite missing."""
    monkeypatch.setattr(tok, "_tagger_cache", {})
    monkeypatch.setitem(sys.modules, "unidic_lite", None)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        f = get_tokenizer("auto", "ja")
    assert len(record) == 1 and "fugashi and unidic-lite" in str(record[0].message)
    assert f(JA) == char_tokenize(JA)


PARITY_CASES = [
    "", " ", "Hello, World!", "don't stop-believing", "snake_case and CamelCase",
    "3.14159 is pi; 2,000 apples", "tab\tnew\nline\r\nend", "ÀÉÎõü café naïve",
    "İstanbul", "Straße ß", "ǅemal", "\u212a Kelvin sign", "ｆｕｌｌｗｉｄｔｈ １２３",
    "x²+y³", "emoji 🙂 and 👍🏽", "日本語とEnglishのmix 2024年", "ＡＢＣ abc",
    "---", "a\u00a0b\u2003c", "MiXeD CaSe 42nd", "ﬁnancial ﬂow", "Ωmega ωmega",
]


@pytest.mark.parametrize("text", PARITY_CASES)
def test_rouge_parity_fixed(text):
    assert rouge_tokenize(text) == rouge_tokenize_ref(text, None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_rouge_parity_any_unicode(text):
    assert rouge_tokenize(text) == rouge_tokenize_ref(text, None)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aZ09 .,;-_'\"!?\t\nİßK日本ｆ１", max_size=80))
def test_rouge_parity_dense(text):
    assert rouge_tokenize(text) == rouge_tokenize_ref(text, None)
