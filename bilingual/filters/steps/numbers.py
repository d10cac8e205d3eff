"""The `numbers` step: numbers must agree across the two sides, however each side writes them.

A translator may write "three seasons" as "৩ বছর", "9:30 am" as "সাড়ে ৯টা", "$51.76 crore" as
"৫১ কোটি ৭৬ লাখ" and "5 million" as "৫০ লাখ". So each side's numbers are read into values:
digits in both scripts (Indian and Western grouping, decimals, ordinals such as 21st / ২১তম),
number words in English and Bengali (cardinals up to thousands and beyond, ordinals, দেড়/আড়াই/সাড়ে),
scale words (hundred, thousand, lakh/লাখ, crore/কোটি, million/মিলিয়ন, billion) and times (9:30,
0230 UTC, সাড়ে ৯টা, compared as minutes on a 12-hour clock).

Numbers written in digits are the evidence: each must find an equal value on the other side,
written in any form. Numbers written as words only help the other side (they may match a digit)
and never count against a pair, since "a"/"একটি" and "one" are often not numbers at all.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from bilingual.filters.base import Fraction, StepParams, register

BN_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")

_EN_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
             "sixteen seventeen eighteen nineteen").split()
_EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
           "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
           "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
           "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60, "seventieth": 70,
           "eightieth": 80, "ninetieth": 90, "hundredth": 100, "thousandth": 1000}
EN_WORDS: dict[str, int] = {w: i for i, w in enumerate(_EN_UNITS)}
EN_WORDS.update({w: 20 + 10 * i for i, w in enumerate(_EN_TENS)})
EN_WORDS.update({"dozen": 12, "half": 0.5})
EN_SCALES = {"hundred": 100, "thousand": 1_000, "lakh": 100_000, "lakhs": 100_000, "lac": 100_000,
             "lacs": 100_000, "crore": 10_000_000, "crores": 10_000_000, "million": 1_000_000,
             "millions": 1_000_000, "billion": 1_000_000_000, "billions": 1_000_000_000,
             "trillion": 10 ** 12, "mn": 1_000_000, "bn": 1_000_000_000}

# Bengali cardinals 0–100 are each their own word; common spelling variants included.
_BN_1_100 = """
শূন্য এক দুই তিন চার পাঁচ ছয় সাত আট নয় দশ এগারো বারো তেরো চৌদ্দ পনেরো ষোলো সতেরো আঠারো উনিশ বিশ
একুশ বাইশ তেইশ চব্বিশ পঁচিশ ছাব্বিশ সাতাশ আটাশ ঊনত্রিশ ত্রিশ একত্রিশ বত্রিশ তেত্রিশ চৌত্রিশ পঁয়ত্রিশ
ছত্রিশ সাঁইত্রিশ আটত্রিশ ঊনচল্লিশ চল্লিশ একচল্লিশ বিয়াল্লিশ তেতাল্লিশ চুয়াল্লিশ পঁয়তাল্লিশ ছেচল্লিশ
সাতচল্লিশ আটচল্লিশ ঊনপঞ্চাশ পঞ্চাশ একান্ন বাহান্ন তিপ্পান্ন চুয়ান্ন পঞ্চান্ন ছাপ্পান্ন সাতান্ন আটান্ন
ঊনষাট ষাট একষট্টি বাষট্টি তেষট্টি চৌষট্টি পঁয়ষট্টি ছেষট্টি সাতষট্টি আটষট্টি ঊনসত্তর সত্তর একাত্তর
বাহাত্তর তিয়াত্তর চুয়াত্তর পঁচাত্তর ছিয়াত্তর সাতাত্তর আটাত্তর ঊনআশি আশি একাশি বিরাশি তিরাশি চুরাশি
পঁচাশি ছিয়াশি সাতাশি আটাশি ঊননব্বই নব্বই একানব্বই বিরানব্বই তিরানব্বই চুরানব্বই পঁচানব্বই ছিয়ানব্বই
সাতানব্বই আটানব্বই নিরানব্বই একশো
""".split()
BN_WORDS: dict[str, float] = {w: i for i, w in enumerate(_BN_1_100)}
BN_WORDS.update({"দু": 2, "ছ": 6, "এগার": 11, "তের": 13, "পনের": 15,
                 "ষোল": 16, "সতের": 17, "আঠার": 18, "কুড়ি": 20, "উনত্রিশ": 29, "উনচল্লিশ": 39,
                 "উনপঞ্চাশ": 49, "উনষাট": 59, "উনসত্তর": 69, "উনআশি": 79, "উননব্বই": 89, "একশ": 100,
                 "একশত": 100, "দেড়": 1.5, "আড়াই": 2.5, "সোয়া": None, "পৌনে": None, "সাড়ে": None})
BN_WORDS = {unicodedata.normalize("NFC", k): v for k, v in BN_WORDS.items() if v is not None}
BN_ORD = {"প্রথম": 1, "দ্বিতীয়": 2, "তৃতীয়": 3, "চতুর্থ": 4, "পঞ্চম": 5, "ষষ্ঠ": 6, "সপ্তম": 7, "অষ্টম": 8,
          "নবম": 9, "দশম": 10, "একাদশ": 11, "দ্বাদশ": 12}
BN_SCALES = {"শত": 100, "শতাধিক": 100, "হাজার": 1_000, "লাখ": 100_000, "লক্ষ": 100_000, "লাখের": 100_000,
             "কোটি": 10_000_000, "মিলিয়ন": 1_000_000, "বিলিয়ন": 1_000_000_000, "ট্রিলিয়ন": 10 ** 12}
BN_ORD = {unicodedata.normalize("NFC", k): v for k, v in BN_ORD.items()}
BN_SCALES = {unicodedata.normalize("NFC", k): v for k, v in BN_SCALES.items()}
# Counting classifiers and case endings that follow a number: ৭টি, তিনটি, দুজন, হাজারের, কোটির, ৫০তম.
_BN_SUFFIX = re.compile(unicodedata.normalize(
    "NFC", r"(?:টি|টা|টায়|টার|টির|টিতে|জন|জনের|খানা|খানি|তম|তমে|তে|ের|এর|র|য়ের|ে|ই|ও)$"))
_BN_HOUR_SUFFIX = tuple(unicodedata.normalize("NFC", s) for s in ("টা", "টায়", "টার"))
_EN_GLUED_SCALE = {"m": 1_000_000, "mn": 1_000_000, "million": 1_000_000, "bn": 1_000_000_000,
                   "billion": 1_000_000_000, "k": 1_000, "crore": 10_000_000, "lakh": 100_000}
# Bengali clock words: সাড়ে ৯টা = 9:30, সোয়া ৯টা = 9:15, পৌনে ১০টা = 9:45
_BN_CLOCK = {unicodedata.normalize("NFC", k): v for k, v in {"সাড়ে": 30, "সোয়া": 15, "পৌনে": -15}.items()}

_TIME = re.compile(r"(?<![\d.,:])(\d{1,2})[:.](\d{2})(?![\d,:]|\.\d)\s*(a\.?m\.?|p\.?m\.?)?", re.IGNORECASE)
_MIL_TIME = re.compile(r"(?<![\d.,:])([01]\d|2[0-3])([0-5]\d)\s*(?:UTC|GMT|hrs|hours|h\b|IST|BST)", re.IGNORECASE)
_EN_TIME = re.compile(r"(?<![\d.,:])(\d{1,2})\s*(a\.?m\.?|p\.?m\.?|o'clock)", re.IGNORECASE)
_ANY_DIGIT = re.compile(r"[0-9\u09e6-\u09ef]")
# a digit group (with Indian/Western grouping, decimals, glued suffix) or a run of other word characters
_WORD = re.compile(r"\$?\d+(?:,\d{2,3})*(?:\.\d+)?[^\s\d.,;:!?()\"'“”‘’।\[\]{}<>/|–—%-]*%?"
                   r"|[^\s\d.,;:!?()\"'“”‘’।\[\]{}<>/|–—$%]+")


def _value(token: str) -> float:
    return round(float(token.replace(",", "")), 6)


def _clock(h: int, m: int) -> tuple[str, int]:
    return ("time", (h % 12) * 60 + m)


@dataclass
class Numbers:
    """What one side says in numbers. `hard`: written in digits (each needs a partner on the other
    side); `values`: everything the side can offer a partner (digits, words, composites, parts)."""

    hard: Counter = field(default_factory=Counter)
    values: set = field(default_factory=set)

    def add(self, value, hard: bool) -> None:
        if hard:
            self.hard[value] += 1
        self.values.add(value)


def read_numbers(text: str) -> Numbers:
    """Read every number of one side, whatever its language."""
    out = Numbers()
    if not _ANY_DIGIT.search(text):  # words alone: only what a partner may match
        _read_tokens(unicodedata.normalize("NFC", text), out)
        return out
    text = unicodedata.normalize("NFC", text).translate(BN_DIGITS)
    text = re.sub(r"(?<=\d)ঃ(?=\d)", ":", text)  # ১৯ঃ৩০: visarga written for a colon
    times: list[tuple[int, int]] = []
    # times first; their digits are not read again as plain numbers
    for m in _TIME.finditer(text):
        h, mi, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
        if h <= 24 and mi < 60 and (ampm or m.group(0)[len(m.group(1))] == ":"):
            out.add(_clock(h, mi), True)
            out.values.update({float(h), float(mi), float(h % 12), _value(f"{h}.{m.group(2)}")})
            times.append(m.span(0))
    for m in _MIL_TIME.finditer(text):
        h, mi = int(m.group(1)), int(m.group(2))
        out.add(_clock(h, mi), True)
        out.values.update({float(h), float(mi), float(int(m.group(1) + m.group(2)))})
        times.append(m.span(0))
    for m in _EN_TIME.finditer(text):
        h = int(m.group(1))
        if h <= 12:
            out.add(_clock(h, 0), True)
            out.values.add(float(h))
            times.append(m.span(0))
    masked = text
    for a, b in times:
        masked = masked[:a] + " " * (b - a) + masked[b:]
    _read_tokens(masked, out)
    return out


def _bn_stems(tok: str):
    """The word, then the word with one more case ending or classifier removed each time."""
    yield tok
    while True:
        m = _BN_SUFFIX.search(tok)
        if not m or m.start() == 0:
            return
        tok = tok[:m.start()]
        yield tok


@lru_cache(maxsize=100_000)
def _word_value(tok: str) -> tuple[float | None, float | None]:
    """(number, scale) for one word token; None where it is not one."""
    low = tok.lower()
    if low in EN_WORDS:
        return float(EN_WORDS[low]), None
    if low in _EN_ORD:
        return float(_EN_ORD[low]), None
    if low in EN_SCALES:
        return None, float(EN_SCALES[low])
    if "-" in low:
        parts = low.split("-")
        if all(p in EN_WORDS for p in parts):  # twenty-five
            return float(sum(EN_WORDS[p] for p in parts)), None
        if parts[0] in EN_WORDS:  # five-times
            return float(EN_WORDS[parts[0]]), None
        return None, None
    for cand in _bn_stems(tok):
        if cand in BN_WORDS:
            return float(BN_WORDS[cand]), None
        if cand in BN_ORD:
            return float(BN_ORD[cand]), None
        if cand in BN_SCALES:
            return None, float(BN_SCALES[cand])
        if cand.endswith(("শো", "শ", "শত")):  # তিনশো = 300
            head = re.sub(r"(শো|শত|শ)$", "", cand)
            if head in BN_WORDS and BN_WORDS[head] < 10:
                return float(BN_WORDS[head]) * 100, None
    return None, None


def _read_tokens(text: str, out: Numbers) -> None:
    """Digits and number words, joined with the scale words after them into one value:
    "51.76 crore" = "৫১ কোটি ৭৬ লাখ" = 517,600,000; "two thousand five hundred" = 2500."""
    tokens = []  # (kind, value, hard); kind: "num", "scale", "clock", "a", "and" or None
    for m in _WORD.finditer(text):
        tok = m.group(0).lstrip("$").rstrip("%")
        if not tok:
            continue
        if tok[0].isdigit():  # "51.76", "1,00,000", "৭টি", "২১তম", "1st"
            g = re.fullmatch(r"(\d+(?:,\d{2,3})*(?:\.\d+)?)(\D*)", tok)
            if not g:
                tokens.append((None, None, False))
                continue
            value, suffix = _value(g.group(1)), g.group(2).lower()
            if suffix in _EN_GLUED_SCALE:  # £125m, $3.6bn
                value = round(value * _EN_GLUED_SCALE[suffix], 6)
                out.values.add(_value(g.group(1)))
            tokens.append(("num", value, True))
            if re.fullmatch(r"\d{1,2}\.[0-5]\d", g.group(1)) and value < 24:  # "5.30" may be a time
                out.values.add(_clock(int(value), int(g.group(1)[-2:])))
            if suffix.startswith(_BN_HOUR_SUFFIX) and 1 <= value <= 12:  # ৯টায় = at 9 o'clock
                out.values.add(_clock(int(value), 0))
        elif tok.startswith(_BN_HOUR_SUFFIX) and tokens and tokens[-1][0] == "num" and 1 <= tokens[-1][1] <= 12:
            out.values.add(_clock(int(tokens[-1][1]), 0))  # ৯ টায়
            tokens.append((None, None, False))
        elif tok in _BN_CLOCK:
            tokens.append(("clock", _BN_CLOCK[tok], False))
        elif tok.lower() in ("a", "an"):
            tokens.append(("a", 1.0, False))
        elif tok.lower() in ("and", "ও"):
            tokens.append(("and", None, False))
        else:
            num, scale = _word_value(tok)
            tokens.append(("num", num, False) if num is not None else ("scale", scale, False) if scale else
                          (None, None, False))
    i, n = 0, len(tokens)
    while i < n:
        kind, v, hard = tokens[i]
        if kind == "clock" and i + 1 < n and tokens[i + 1][0] in ("num", "a"):
            hour, h_hard = tokens[i + 1][1], tokens[i + 1][2]
            if hour == int(hour) and 1 <= hour <= 12:
                out.add(("time", ((int(hour) % 12) * 60 + v) % 720), False)
            out.add(hour, h_hard)
            i += 2
            continue
        if kind == "a":  # "a"/"an" may stand for 1 ("a mile" = "১ মাইল"); it counts before a scale ("a hundred")
            if not (i + 1 < n and tokens[i + 1][0] == "scale"):
                out.values.add(1.0)
                i += 1
                continue
        elif kind != "num":
            i += 1
            continue
        total, current, parts, last_scale, j = 0.0, v, [v], float("inf"), i + 1
        while j < n:
            k2, v2, h2 = tokens[j]
            nxt = tokens[j + 1][0] if j + 1 < n else None
            if k2 == "scale" and current:
                if v2 == 100:
                    current *= 100
                elif v2 < last_scale:
                    total, current, last_scale = total + current * v2, 0.0, v2
                else:
                    break
            elif k2 == "num" and current == 0 and total and (not h2 or nxt == "scale") and v2 < last_scale:
                current = v2  # "৫১ কোটি ৭৬ লাখ", "two thousand five hundred"
                parts.append(v2)
            elif k2 == "num" and not h2 and not hard and current and (
                    (20 <= current < 100 and current % 10 == 0 and v2 < 10) or (current % 100 == 0 and v2 < 100)):
                current += v2  # "twenty five", "one hundred and five"
            elif k2 == "and" and nxt == "num" and not hard and (total or current >= 100):
                pass
            else:
                break
            j += 1
        out.add(round(total + current, 6), hard)
        out.values.update(round(p, 6) for p in parts)
        i = j


def numbers(text: str) -> list[str]:
    """The digit-written numbers of a text as sorted canonical strings (Bengali digits read as 0–9)."""
    hard = read_numbers(text).hard
    return sorted(_fmt(v) for v in hard.elements())


def _fmt(v) -> str:
    if isinstance(v, tuple):
        return f"{v[1] // 60}:{v[1] % 60:02d}"
    return f"{v:g}" if v != int(v) else str(int(v))


def agreement(bn: str, en: str) -> float:
    """Share of digit-written numbers (both sides) that find an equal value on the other side; 1.0 without any."""
    if not (_ANY_DIGIT.search(bn) or _ANY_DIGIT.search(en)):
        return 1.0
    a, b = read_numbers(bn), read_numbers(en)
    total = sum(a.hard.values()) + sum(b.hard.values())
    if total == 0:
        return 1.0
    matched = sum(c for v, c in a.hard.items() if _found(v, b)) + sum(c for v, c in b.hard.items() if _found(v, a))
    return matched / total


def _found(value, other: Numbers) -> bool:
    if value in other.values:
        return True
    if isinstance(value, tuple):  # a time: "10 a.m." vs "সকাল 10"; "7.55am" vs "৭ টা ৫৫ মিনিটে"
        h, m = divmod(value[1], 60)
        hours = {float(h), float(h + 12)} if h else {12.0, 0.0}
        return bool(hours & other.values) and (m == 0 or float(m) in other.values)
    return False


class NumbersParams(StepParams):
    min_agreement: Fraction = 1.0  # share of digit-written numbers (both sides) that must find a partner


@register("numbers", NumbersParams, outputs={"number_agreement": "float32"})
def numbers_step(batch, p: NumbersParams, ctx):
    """Numbers must agree across sides, in digits of either script or in words; pairs without numbers pass."""
    scores = [agreement(b, e) for b, e in zip(batch["bn"], batch["en"])]
    return {"number_agreement": scores, "_reason": [None if s >= p.min_agreement else "number_mismatch" for s in scores]}
