"""Instruction filters: the upstream Self-Instruct rules (en) and their Japanese analogue."""

from __future__ import annotations

import pytest

from tane.curate.instruction_filters import (JA_BLACKLIST, JA_MAX_CHARS, JA_MIN_CHARS,
                                             check_instruction, japanese_share)
from tane.seeds.loader import load_seeds


def reason(text: str, mode: str) -> str | None:
    res = check_instruction(text, mode)
    return None if res is None else res[0]


def test_empty_is_dropped_in_both_modes():
    assert check_instruction("", "en") == ("empty", {})
    assert check_instruction("", "ja") == ("empty", {})


# ---------------------------------------------------------------------------------- en

def words(n: int) -> str:
    return "Explain " + " ".join(["this"] * (n - 1))


def test_en_three_words_dropped_four_kept():
    assert check_instruction("Name primary colors.", "en") == ("too_short", {"words": 3})
    assert check_instruction("Name three primary colors.", "en") is None
    assert check_instruction("Hi", "en") == ("too_short", {"words": 1})


def test_en_word_count_uses_whitespace_not_spaces():
    # runs of whitespace and newlines count as one separator, as str.split() does
    assert reason("Name   primary\n\ncolors.", "en") == "too_short"
    assert reason("Name\tthree\nprimary  colors.", "en") is None


def test_en_more_than_150_words_dropped_150_kept():
    assert check_instruction(words(150), "en") is None
    assert check_instruction(words(151), "en") == ("too_long", {"words": 151})


@pytest.mark.parametrize("text, word", [
    ("Summarize the contents of these files briefly.", "files"),
    ("Describe the image in three sentences.", "image"),
    ("Draw a simple house using characters.", "draw"),
    ("Make a Graph of the monthly sales numbers.", "graph"),
    ("Make a map of the campus for visitors.", "map"),
    ("Tell me how to plot this data nicely.", "plot"),
    ("Read the FILE and list every name.", "file"),
])
def test_en_blacklist_words_dropped(text, word):
    assert check_instruction(text, "en") == ("blacklist", {"word": word})


@pytest.mark.parametrize("text", [
    "Update the profile description of this user.",   # "file" inside "profile"
    "Give an example of a mapping between two sets.",  # "map" inside "mapping"
    "Explain what a drawback of remote work is.",      # "draw" inside "drawback"
    "Describe the imagery used in this poem.",         # "image" inside "imagery"
    "List three paragraphs worth reading today.",      # "graph" inside "paragraphs"
    "Summarize the storyline of the novel briefly.",
])
def test_en_blacklist_matches_whole_words_only(text):
    assert check_instruction(text, "en") is None


def test_en_go_to_phrase():
    assert check_instruction("Go to the website and find the price.", "en") == \
        ("blacklist", {"word": "go to"})
    assert check_instruction("Please go to the store and buy milk.", "en") == \
        ("blacklist", {"word": "go to"})
    # the words apart, or "go" inside another word, are fine
    assert check_instruction("Explain why people go there to relax.", "en") is None
    assert check_instruction("It happened long ago today, so explain why.", "en") is None
    assert check_instruction("Tell me where to go tomorrow morning.", "en") is None


def test_en_write_a_program_prefix():
    assert check_instruction("Write a program that prints the first ten primes.", "en") == \
        ("write_a_program", {})
    # only the exact opener, as upstream does
    assert check_instruction("Write a Python program that prints primes.", "en") is None
    assert check_instruction("Explain how to write a program that sorts.", "en") is None


@pytest.mark.parametrize("text", ['"Explain the rules of chess."', "- List three fruits please.",
                                  "(a) Classify the following animal.",
                                  "#1 Translate this into French please."])
def test_en_leading_punctuation_dropped(text):
    assert check_instruction(text, "en") == ("starts_with_punctuation", {"char": text[0]})


def test_en_non_ascii_first_char_dropped():
    assert check_instruction("¿Cómo se dice hello en inglés?", "en") == \
        ("non_ascii_start", {"char": "¿"})
    assert check_instruction("Émile wants a short poem about rain.", "en") == \
        ("non_ascii_start", {"char": "É"})
    # non-ASCII later in the sentence is fine
    assert check_instruction("Explain what a café is to a child.", "en") is None


def test_en_starting_with_a_digit_is_kept():
    assert check_instruction("3 ways to save money: list them briefly.", "en") is None


def test_en_bundled_seeds_mostly_pass():
    seeds = load_seeds("bundled:en")
    bad = [(s.instruction, check_instruction(s.instruction, "en")) for s in seeds
           if check_instruction(s.instruction, "en")]
    assert len(bad) <= len(seeds) * 0.05, bad


# ---------------------------------------------------------------------------------- ja

def test_ja_length_in_characters():
    assert len("短い文を書いて") == JA_MIN_CHARS - 1
    assert check_instruction("短い文を書いて", "ja") == ("too_short", {"chars": 7})
    assert check_instruction("短い文を書いてね", "ja") is None
    body = "次の文章を読んで答えてください。"
    long_ok = (body * 30)[:JA_MAX_CHARS]
    assert len(long_ok) == 300
    assert check_instruction(long_ok, "ja") is None
    assert check_instruction(long_ok + "。", "ja") == ("too_long", {"chars": 301})


def test_ja_length_counts_characters_not_bytes_or_words():
    # 12 characters, 36 UTF-8 bytes, one "word" by whitespace: kept in ja, dropped in en
    text = "日本の首都はどこですか。"
    assert len(text) == 12
    assert check_instruction(text, "ja") is None
    assert reason(text, "en") == "too_short"


@pytest.mark.parametrize("text", ["请把下面的句子翻译成英文。", "请解释一下人工智能的基本原理。",
                                  "日本国憲法第九条解説要約"])
def test_ja_kanji_only_text_is_not_japanese(text):
    res = check_instruction(text, "ja")
    assert res is not None and res[0] == "not_japanese"


@pytest.mark.parametrize("text", ["Translate the following sentence into French.",
                                  "Please translate this sentence into English です",
                                  "Bonjour, pouvez-vous traduire cette phrase?"])
def test_ja_english_text_is_not_japanese(text):
    res = check_instruction(text, "ja")
    assert res is not None and res[0] == "not_japanese"
    assert res[1]["japanese_share"] < 0.5


@pytest.mark.parametrize("text", [
    "次のPythonコードのバグを見つけて修正してください。",
    "SQLのJOINとサブクエリの違いを説明してください。",
    "次の英文を自然な日本語に訳してください。",
    "「Thank you」を丁寧な日本語にしてください。",
])
def test_ja_mixed_but_mostly_japanese_is_kept(text):
    assert japanese_share(text) >= 0.5
    assert check_instruction(text, "ja") is None


def test_japanese_share():
    assert japanese_share("ひらがなカタカナ漢字") == 1.0
    assert japanese_share("abcd") == 0.0
    assert japanese_share("。、！？") == 0.0  # punctuation only: no letters
    assert japanese_share("あいab") == 0.5


@pytest.mark.parametrize("text, word", [
    ("次の画像に写っている動物の名前を答えてください。", "画像"),
    ("この写真の撮影場所を推測してください。", "写真"),
    ("売上の推移をグラフにまとめてください。", "グラフ"),
    ("添付したファイルの内容を要約してください。", None),  # ファイル or 添付
    ("猫のイラストを描いてください。", None),
    ("次のURLにアクセスして内容を教えてください。", None),
    ("この動画の内容を三行でまとめてください。", "動画"),
])
def test_ja_blacklist(text, word):
    res = check_instruction(text, "ja")
    assert res is not None and res[0] == "blacklist", res
    assert res[1]["word"] in JA_BLACKLIST and res[1]["word"] in text
    if word is not None:
        assert res[1]["word"] == word


@pytest.mark.parametrize("text", ["この文章の作者の意図を説明してください。",
                                  "次の質問の意図を推測してください。",
                                  "「合図に気づく」を英語に訳してください。"])
def test_ja_blacklist_does_not_hit_words_containing_zu(text):
    assert check_instruction(text, "ja") is None


@pytest.mark.parametrize("text", [
    "プログラムを書いて、1から100までの素数を表示してください。",
    "プログラムを作って、入力された数の階乗を求めてください。",
    "素数を判定するプログラムを書いてください。",
])
def test_ja_write_a_program_prefix(text):
    assert check_instruction(text, "ja") == ("write_a_program", {})


@pytest.mark.parametrize("text", [
    "素数を判定するPythonの関数を書いてください。",
    "次のプログラムを書いた人の考えを説明してください。",
    "与えられた二つの整数の最大公約数を求めるプログラムを書いてください。",  # long subject
])
def test_ja_program_not_at_the_start_is_kept(text):
    assert check_instruction(text, "ja") is None


@pytest.mark.parametrize("text", ["、次の文を要約してください。", "。次の文を要約してください。",
                                  "・次の文を要約してください。", "！次の文を要約してください。",
                                  "-次の文を要約してください。", "?次の文を要約してください。"])
def test_ja_leading_punctuation_dropped(text):
    assert check_instruction(text, "ja") == ("starts_with_punctuation", {"char": text[0]})


@pytest.mark.parametrize("text", ["「ありがとう」を英語に訳してください。",
                                  "『吾輩は猫である』の作者を答えてください。",
                                  "【要約】次の記事を三行にまとめてください。",
                                  "（注）次の文を敬語に直してください。"])
def test_ja_leading_opening_bracket_allowed(text):
    assert check_instruction(text, "ja") is None


def test_ja_leading_ascii_paren_allowed_like_fullwidth():
    assert check_instruction("(注) 次の文を敬語に直してください。", "ja") is None


def test_ja_bundled_seeds_pass():
    seeds = load_seeds("bundled:ja")
    assert len(seeds) >= 20
    failed = [(s.instruction, check_instruction(s.instruction, "ja")) for s in seeds
              if check_instruction(s.instruction, "ja") is not None]
    assert len(failed) <= len(seeds) * 0.05, failed


def test_ja_mode_does_not_use_en_rules():
    # fine Japanese that would fail every en rule (one "word", non-ASCII start)
    assert check_instruction("次の文を要約してください。", "ja") is None
    assert reason("次の文を要約してください。", "en") == "too_short"
    # and an English blacklist word inside Japanese is not a ja blacklist hit
    assert check_instruction("mapという英単語の意味を日本語で説明してください。", "ja") is None
