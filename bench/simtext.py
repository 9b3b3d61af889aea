"""What the simulated server (``simserver.py``) answers: deterministic text for a request,
seeded by a hash of its prompt and ``seed``. tane's Self-Instruct prompts get a
continuation of the numbered task list with novel instructions that pass
``check_instruction``, ``No``/``いいえ`` to the classification prompt, or an instance in the
``Input:``/``Output:`` shape; anything else gets filler of the right length (Japanese when
the prompt has kana). ``respond`` also decides the completion's token count."""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

_EN_VERBS = ("Explain", "Describe", "Suggest", "Compare", "Summarize", "Outline", "Propose",
             "Evaluate", "Recommend", "Analyze", "Invent", "Sketch out", "Argue", "Predict",
             "Design", "Plan", "Rank", "Critique", "Brainstorm", "Estimate", "Justify",
             "Translate into plain language", "Rewrite politely", "Identify", "Defend")
_EN_ADJ = ("quiet", "rusty", "seasonal", "portable", "bilingual", "coastal", "frugal",
           "humid", "nocturnal", "modular", "vintage", "crowded", "fragile", "electric",
           "rural", "tiny", "ancient", "cheerful", "sturdy", "foggy", "organic", "urban",
           "noisy", "wooden", "secondhand", "gentle", "mountain", "volunteer", "weekly",
           "handmade", "spicy", "shared", "remote", "riverside", "solar", "patient",
           "careful", "historic", "floating", "midnight", "borrowed", "neglected",
           "experimental", "neighborhood", "winter", "summer", "public", "private",
           "regional", "sleepy", "overgrown", "cozy", "muddy", "lively", "hidden")
_EN_NOUNS = ("lantern", "ferry", "orchard", "ledger", "bakery", "glacier", "bicycle",
             "library", "pension", "harbor", "compost", "violin", "tram", "greenhouse",
             "recipe", "tournament", "festival", "warehouse", "classroom", "garden",
             "canal", "bridge", "kettle", "umbrella", "satellite", "museum", "notebook",
             "budget", "clinic", "pottery", "marathon", "choir", "lighthouse", "vineyard",
             "cafeteria", "subway", "apartment", "sauna", "quilt", "telescope", "beehive",
             "podcast", "rental", "mortgage", "inventory", "dormitory", "playground",
             "aquarium", "typewriter", "scooter", "hostel", "diary", "newsletter", "tent",
             "bookshop", "kiln", "loom", "ramen stall", "tea ceremony", "sushi counter",
             "rice field", "hot spring", "shrine", "bento", "origami", "bonsai", "kimono",
             "train pass", "night market", "fish market", "ski lodge", "campsite",
             "carpool", "food truck", "thrift store", "laundromat", "repair cafe",
             "chess club", "choir rehearsal", "job interview", "science fair",
             "wedding speech", "tax return", "lease", "insurance claim", "vaccine",
             "allergy", "sourdough", "espresso", "snowstorm", "heatwave", "earthquake drill",
             "typhoon", "commute", "timetable", "spreadsheet", "password", "router",
             "database", "algorithm", "compiler", "sensor", "robot", "drone", "battery",
             "wind turbine", "water filter", "seed bank", "recycling bin", "bus stop",
             "parking lot", "crosswalk", "elevator", "staircase", "balcony", "attic",
             "cellar", "chimney", "fence", "pond", "meadow", "forest trail", "cliff",
             "island", "volcano", "desert", "swamp", "savanna", "tundra", "reef",
             "penguin", "otter", "sparrow", "beetle", "octopus", "hedgehog", "falcon",
             "goldfish", "tortoise", "squirrel", "mushroom", "cactus", "tulip", "bamboo",
             "maple", "persimmon", "radish", "lentil", "walnut", "pumpkin", "cabbage")
_EN_PEOPLE = ("retirees", "nurses", "first-year students", "shop owners", "farmers",
              "tourists", "new parents", "librarians", "night-shift workers", "engineers",
              "beginners", "children", "teachers", "volunteers", "chefs", "cyclists",
              "translators", "landlords", "tenants", "musicians", "athletes", "pilots",
              "journalists", "gardeners", "programmers", "accountants", "fishermen",
              "commuters", "museum guides", "coaches")
_EN_ASPECTS = ("cost", "safety", "noise", "comfort", "speed", "durability", "fairness",
               "privacy", "energy use", "taste", "accessibility", "maintenance", "style",
               "risk", "upkeep", "popularity", "reliability", "history", "weight")
_EN_FORMS = ("haiku", "limerick", "slogan", "short story", "toast", "riddle", "dialogue",
             "checklist", "apology letter", "job ad", "review", "news headline", "lesson plan",
             "tweet", "product description", "diary entry", "fable", "sonnet", "menu")
_EN_SEASONS = ("spring", "autumn", "heatwave", "snowstorm", "holiday", "exam week", "harvest",
               "rainy season", "festival week", "night shift", "school trip", "power cut")
# a head ("Verb a/an adj noun") and two or three of these, in random order: few fixed words
# per instruction, so two instructions rarely reach ROUGE-L 0.7
_EN_MODS = ("for {p}", "with a {a} {n}", "near a {a} {n}", "during a {a} {season}",
            "on a budget of {k}0 dollars", "in {k} short steps", "using only a {n} and a {n2}",
            "focusing on {aspect}", "without any {n}", "as a {form}", "from the view of {p}",
            "while keeping {aspect} in mind", "after a {a} {season}", "so that {p} can follow",
            "by comparing it with a {a} {n}", "in under {k}0 words", "and mention {aspect}",
            "before the {season} ends", "for a {a} {n} owned by {p}")
_EN_FILL = ("the team checked every step again and wrote down what changed so that the next "
            "person could follow the same path without guessing while the weather stayed "
            "calm and the numbers added up in the end because careful notes make work easier "
            "for everyone who reads them later and a clear plan saves time money and effort "
            "when small details are handled early rather than at the last minute").split()

_JA_NOUNS = ("図書館", "商店街", "温泉旅館", "自転車", "家計簿", "町内会", "保育園", "農園",
             "漁港", "駄菓子屋", "喫茶店", "体育館", "美術館", "水族館", "動物園", "公民館",
             "市役所", "郵便局", "鉄道", "路線バス", "古民家", "空き家", "棚田", "茶畑",
             "梅干し", "味噌汁", "弁当", "焼き魚", "和菓子", "盆踊り", "花火大会", "運動会",
             "文化祭", "合唱団", "将棋", "囲碁", "俳句", "書道", "茶道", "生け花", "折り紙",
             "風鈴", "扇風機", "炊飯器", "冷蔵庫", "洗濯機", "掃除機", "加湿器", "腕時計",
             "万年筆", "手帳", "日記", "家庭菜園", "盆栽", "金魚", "柴犬", "三毛猫", "カラス",
             "ツバメ", "カブトムシ", "ホタル", "桜並木", "紅葉", "雪かき", "梅雨", "台風",
             "防災訓練", "避難所", "住宅ローン", "確定申告", "年末調整", "引っ越し", "就職活動",
             "面接", "新人研修", "送別会", "忘年会", "結婚式", "同窓会", "遠足", "修学旅行",
             "通勤電車", "時刻表", "乗り換え", "駐輪場", "横断歩道", "エレベーター", "ベランダ",
             "屋根裏", "物置", "井戸", "小川", "里山", "竹林", "田んぼ", "漁船", "灯台",
             "ロボット", "センサー", "電池", "太陽光パネル", "風車", "浄水器", "パスワード",
             "ルーター", "データベース", "表計算", "アルゴリズム", "コンパイラ", "キャンプ場",
             "屋台", "朝市", "古本屋", "銭湯", "サウナ", "ラーメン屋", "パン屋", "花屋",
             "八百屋", "魚屋", "豆腐", "納豆", "大根", "白菜", "かぼちゃ", "柿", "栗", "梨")
_JA_PEOPLE = ("高齢者", "看護師", "新入生", "店主", "農家", "観光客", "新米の親", "司書",
              "夜勤の人", "技術者", "初心者", "小学生", "教師", "ボランティア", "料理人",
              "通勤客", "留学生", "大家", "音楽家", "選手", "記者", "庭師", "会計士", "漁師")
_JA_ASPECTS = ("費用", "安全性", "騒音", "快適さ", "速さ", "耐久性", "公平さ", "手間",
               "使いやすさ", "味", "人気", "信頼性", "歴史", "重さ", "見た目", "保守")
_JA_FORMS = ("俳句", "短歌", "標語", "短い物語", "挨拶文", "なぞなぞ", "会話文", "手順書",
             "お詫びの手紙", "求人広告", "感想文", "見出し", "授業案", "商品説明", "日記",
             "寓話", "献立", "案内文", "お知らせ")
_JA_SEASONS = ("春先", "梅雨", "真夏", "秋の夕方", "年末", "正月", "連休", "試験前", "雪の日",
               "夜明け", "停電中", "引っ越しの前")
_JA_MODS = ("{p}向けに", "{n}を使って", "{n}と{n2}を比べながら", "{season}に", "{aspect}を重視して",
            "{k}つの観点から", "{n}の代わりに{n2}で", "{p}の立場で", "{aspect}に注意して",
            "{n}のそばで", "{k}分以内で", "{form}の形で", "{p}と{p2}のために", "{season}の{n}で",
            "{n}が苦手な{p}にも", "{aspect}と{aspect2}を両立させて", "予算{k}万円で")
_JA_OBJECTS = ("{n}と{n2}の{aspect}について", "{n}の{aspect}を", "{p}が使う{n}について",
               "{n}と{n2}の違いを", "{n}を選ぶ理由を", "{n}で起きがちな失敗を",
               "{n}を長持ちさせるこつを")
_JA_ENDS = ("説明してください。", "まとめてください。", "提案してください。", "考えてください。",
            "教えてください。", "書いてください。", "比べてください。", "整理してください。",
            "紹介してください。", "答えてください。", "挙げてください。", "分析してください。")
_JA_FILL = ("まず全体の流れを確認し、必要な準備を整えてから一つずつ進めることが大切です。"
            "具体的には、目的をはっきりさせ、使える時間と予算を見積もり、関係する人と早めに"
            "相談しておくと、後で困ることが少なくなります。また、途中で気づいた点は記録に"
            "残しておき、終わったあとに振り返ると次に生かせます。無理をせず、できるところから"
            "少しずつ取り組んでいきましょう。")

_KANA = re.compile(r"[\u3040-\u30ff]")
_NUM_END = re.compile(r"\n\s*(\d+)\s*[.．]$")
_CHAT_RANGE = (re.compile(r"numbered (\d+) to (\d+)"), re.compile(r"(\d+)番から(\d+)番まで"))


def _h64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "little")


def en_instruction(rng: random.Random) -> str:
    """A random English task that passes tane's ``en`` filters (4..150 words, no
    blacklisted word, ASCII first letter), mostly content words so ROUGE-L stays low."""
    def fill(t: str) -> str:
        return t.format(p=rng.choice(_EN_PEOPLE), a=rng.choice(_EN_ADJ), n=rng.choice(_EN_NOUNS),
                        n2=rng.choice(_EN_NOUNS), season=rng.choice(_EN_SEASONS),
                        k=rng.randint(2, 9), aspect=rng.choice(_EN_ASPECTS),
                        form=rng.choice(_EN_FORMS))
    mods = [fill(m) for m in rng.sample(_EN_MODS, rng.randint(2, 3))]
    return f"{rng.choice(_EN_VERBS)} {fill('a {a} {n}')} {' '.join(mods)}.".replace(
        " a a", " an a").replace(" a e", " an e").replace(" a o", " an o").replace(
        " a u", " an u").replace(" a i", " an i")


def ja_instruction(rng: random.Random) -> str:
    """A random Japanese task that passes tane's ``ja`` filters."""
    def fill(t: str) -> str:
        return t.format(p=rng.choice(_JA_PEOPLE), p2=rng.choice(_JA_PEOPLE),
                        n=rng.choice(_JA_NOUNS), n2=rng.choice(_JA_NOUNS),
                        season=rng.choice(_JA_SEASONS), k=rng.randint(2, 9),
                        aspect=rng.choice(_JA_ASPECTS), aspect2=rng.choice(_JA_ASPECTS),
                        form=rng.choice(_JA_FORMS))
    mods = [fill(m) for m in rng.sample(_JA_MODS, rng.randint(3, 4))]
    return ("、".join(mods[:-1]) + "、" + mods[-1] + fill(rng.choice(_JA_OBJECTS))
            + rng.choice(_JA_ENDS))


def filler(n_tokens: int, ja: bool, offset: int) -> str:
    """Text of about ``n_tokens`` tokens (one per English word or Japanese character)."""
    if n_tokens <= 0:
        return ""
    if ja:
        start = offset % len(_JA_FILL)
        reps = (start + n_tokens) // len(_JA_FILL) + 1
        return (_JA_FILL * reps)[start:start + n_tokens]
    w = _EN_FILL
    start = offset % len(w)
    words = [w[(start + i) % len(w)] for i in range(n_tokens)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _cut(text: str, tokens: int, cap: int) -> str:
    """Keep the share of ``text`` that ``cap`` of ``tokens`` tokens would have written."""
    return text[:max(0, len(text) * cap // max(tokens, 1))]


def _gen_list(rng: random.Random, first: int, last: int, ja: bool, chat: bool) -> str:
    make = ja_instruction if ja else en_instruction
    items = [make(rng) for _ in range(first, last + 1)]
    if chat:
        return "\n".join(f"{i}. {t}" for i, t in zip(range(first, last + 1), items))
    # a completion continues after "N.": the first item has no number of its own
    return " " + items[0] + "".join(f"\n{i}. {t}" for i, t in
                                    zip(range(first + 1, last + 1), items[1:]))


def respond(prompt: str, body: dict[str, Any], tokens_mean: int) -> tuple[str, int, str]:
    """(text, completion_tokens, finish_reason) for one request; ``prompt`` is the
    completion prompt or the chat messages' text."""
    h = _h64(prompt)
    cap = body.get("max_tokens") or body.get("max_completion_tokens") or 1 << 30
    try:
        cap = max(1, int(cap))
    except (TypeError, ValueError):
        cap = 1 << 30
    tokens = max(1, int(tokens_mean * (0.5 + (h & 0xFFFF) / 65536.0)))
    tail = prompt.rstrip()
    ja = _KANA.search(prompt) is not None
    text: str | None = None
    head = prompt[:120]
    rng = None
    # Self-Instruct: continue the task list (upstream's header: "Come up with a series of")
    if "numbered" in head or "番号付き" in head or head.startswith("Come up with a series of"):
        rng = random.Random(h ^ _h64(repr(body.get("seed"))))
        m = _NUM_END.search(tail)
        r = _CHAT_RANGE[0].search(prompt) or _CHAT_RANGE[1].search(prompt)
        if m and not r:
            first = int(m.group(1))
            text = _gen_list(rng, first, max(first, 15), ja, chat=False)
        elif r:
            text = _gen_list(rng, int(r.group(1)), max(int(r.group(1)), int(r.group(2))),
                             ja, chat=True)
    elif tail.endswith(("Classification:", "分類タスク:", "Is it classification?")):
        text, tokens = (" いいえ" if tail.endswith("分類タスク:") else " No"), 1
    elif head.startswith(("Come up with examples for the following tasks",
                          "Given the classification task definition")):
        # Self-Instruct's upstream instance prompts: a few examples of the last task
        off, rng = h >> 16, random.Random(h)
        n = 1 + rng.randrange(3)
        if head.startswith("Given"):
            text = "".join(f"Class label: {('Positive', 'Negative')[k % 2]}\n"
                           f"Sentence: {filler(max(tokens // n, 1), False, off + k)}\n"
                           for k in range(n))
        else:
            text = "".join(f"Example {k + 1}\nInput: {filler(8, False, off + k)}\n"
                           f"Output: {filler(max(tokens // n - 8, 1), False, off + 7 + k)}\n"
                           for k in range(n))
    elif tail.endswith(("\nInput:", "\n入力:", "\nClass label:", "\nラベル:")):
        off = h >> 16
        rng = random.Random(h)
        has_input = rng.random() < 0.4
        if tail.endswith("\nInput:"):
            inp = filler(12, False, off) if has_input else "<noinput>"
            text = f" {inp}\nOutput: {filler(max(tokens - 16, 1), False, off + 7)}"
        elif tail.endswith("\n入力:"):
            inp = filler(20, True, off) if has_input else "<noinput>"
            text = f" {inp}\n出力: {filler(max(tokens - 24, 1), True, off + 7)}"
        elif tail.endswith("\nClass label:"):
            text = f" {rng.choice(('Positive', 'Negative'))}\nInput: {filler(tokens, False, off)}"
        else:
            text = f" {rng.choice(('肯定的', '否定的'))}\n入力: {filler(tokens, True, off)}"
    if text is None:
        text = filler(tokens, ja, h >> 16)
    finish = "stop"
    if tokens > cap:
        text, tokens, finish = _cut(text, tokens, cap), cap, "length"
    for s in body.get("stop") or ():
        if isinstance(s, str) and s and s in text:
            text, finish = text[:text.index(s)], "stop"
    return text, tokens, finish


def prompt_of(body: dict[str, Any], chat: bool) -> str:
    """The text a request is about: the prompt, or each message's role and content (the
    last message's content last, where tane's templates put their cue)."""
    if not chat:
        p = body.get("prompt", "")
        return p if isinstance(p, str) else (p[0] if p and isinstance(p[0], str) else str(p))
    parts = []
    for m in body.get("messages") or ():
        c = m.get("content") or ""
        if isinstance(c, list):  # content parts
            c = "".join(x.get("text", "") for x in c if isinstance(x, dict))
        parts.append(f"{m.get('role', '')}\x00{c}")
    return "\x01".join(parts)
