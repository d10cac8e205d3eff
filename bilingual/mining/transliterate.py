"""Names and loanwords across scripts: a rule-based Bengali → Latin transliterator and fuzzy matching.

Bengali writes names and borrowed words by sound (আইনস্টাইন Einstein, প্রোটিন protein, ভ্যাকসিন vaccine),
so the aligner can match them without a dictionary. `to_latin` romanizes Bengali script letter by letter
(consonants carry an inherent "a" unless a vowel sign or the virama follows, or the word ends; য-ফলা + আ-কার
reads as the "a" of "cat"). Both sides are then reduced to a sound key that forgets what the two spellings
cannot agree on (aspiration, v/bh, z/j, c/k/s, doubled letters, a/o) and compared with a similarity ratio.

Two matchers are registered, so the benchmark can compare them: "transliteration" (the above) and
"skeleton" (the earlier consonant-skeleton comparison, vowels dropped). Adding one is one new entry.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from typing import Callable, Iterable

_NUKTA = "\u09bc"
_VIRAMA = "\u09cd"
_CONSONANTS = {
    "ক": "k", "খ": "kh", "গ": "g", "ঘ": "gh", "ঙ": "ng", "চ": "ch", "ছ": "chh", "জ": "j", "ঝ": "jh", "ঞ": "n",
    "ট": "t", "ঠ": "th", "ড": "d", "ঢ": "dh", "ণ": "n", "ত": "t", "থ": "th", "দ": "d", "ধ": "dh", "ন": "n",
    "প": "p", "ফ": "f", "ব": "b", "ভ": "bh", "ম": "m", "য": "j", "র": "r", "ল": "l", "শ": "sh", "ষ": "sh",
    "স": "s", "হ": "h", "ড়": "r", "ঢ়": "rh", "য়": "y",
}
_NUKTA_FORMS = {"ড": "ড়", "ঢ": "ঢ়", "য": "য়"}
_VOWELS = {"অ": "a", "আ": "a", "ই": "i", "ঈ": "i", "উ": "u", "ঊ": "u", "ঋ": "ri", "এ": "e", "ঐ": "oi", "ও": "o",
           "ঔ": "ou"}
_SIGNS = {"া": "a", "ি": "i", "ী": "i", "ু": "u", "ূ": "u", "ৃ": "ri", "ে": "e", "ৈ": "oi", "ো": "o", "ৌ": "ou"}
_OTHER = {"ৎ": "t", "ং": "ng", "ঃ": "h", "ঁ": ""}


_PRECOMPOSED = {"\u09dc": "ড\u09bc", "\u09dd": "ঢ\u09bc", "\u09df": "য\u09bc", "\u09c7\u09be": "\u09cb",
                "\u09c7\u09d7": "\u09cc"}


def to_latin(word: str, inherent: bool = True) -> str:
    """Romanize one Bengali word (other characters are dropped). `inherent=False` leaves out the inherent
    vowel inside the word, which Bengali often does not pronounce (আইনস্টাইন: "ainstain", not "ainastain")."""
    for a, b in _PRECOMPOSED.items():
        word = word.replace(a, b)
    chars = list(word)
    out: list[str] = []
    i, n = 0, len(chars)
    while i < n:
        ch = chars[i]
        if ch in _NUKTA_FORMS and i + 1 < n and chars[i + 1] == _NUKTA:
            ch = _NUKTA_FORMS[ch]
            i += 1
        nxt = chars[i + 1] if i + 1 < n else ""
        if ch in _CONSONANTS:
            out.append(_CONSONANTS[ch])
            if nxt == _VIRAMA and i + 2 < n and chars[i + 2] == "য":  # য-ফলা
                if i + 3 < n and chars[i + 3] == "া":
                    out.append("a")  # ক্যা = "ka" of "cat"
                    i += 4
                else:
                    out.append("y")
                    i += 3
                continue
            if nxt == _VIRAMA:
                i += 2
                continue
            if nxt in _SIGNS:
                out.append(_SIGNS[nxt])
                i += 2
                continue
            if inherent and nxt and (nxt in _CONSONANTS or nxt in _OTHER or nxt in _NUKTA_FORMS):
                out.append("a")  # the inherent vowel, dropped at the end of a word
            i += 1
            continue
        if ch in _VOWELS:
            if ch == "অ" and nxt == _VIRAMA and i + 3 < n and chars[i + 2] == "য" and chars[i + 3] == "া":
                out.append("a")  # অ্যা
                i += 4
                continue
            out.append(_VOWELS[ch])
        elif ch in _OTHER:
            out.append(_OTHER[ch])
        i += 1
    return "".join(out)


_KEY_RULES = [(re.compile(a), b) for a, b in (
    (r"[^a-z]", ""), (r"ph", "f"), (r"ck", "k"), (r"q", "k"), (r"x", "ks"), (r"z", "j"), (r"v", "b"), (r"w", "o"),
    (r"c(?=[eiy])", "s"), (r"c", "k"), (r"g(?=[eiy])", "j"), (r"(?<=[kgtdpbjsr])h", ""), (r"ee|ea|ie", "i"),
    (r"oo|ou", "u"), (r"(?<=[a-z])y", "i"), (r"(?<=[^aeiu])e$", ""), (r"o", "a"), (r"e", "i"), (r"(.)\1+", r"\1"),
)]


def sound_key(latin: str) -> str:
    """What an English spelling and a romanized Bengali spelling of the same word should share."""
    w = latin.lower()
    for pattern, repl in _KEY_RULES:
        w = pattern.sub(repl, w)
    return w


def bn_keys(word: str) -> tuple[str, ...]:
    """The sound keys of a Bengali word: with and without its inherent vowels."""
    return tuple(dict.fromkeys((sound_key(to_latin(word)), sound_key(to_latin(word, inherent=False)))))


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def keys_match(bn: tuple[str, ...], en: str, min_ratio: float = 0.8) -> bool:
    """A Bengali word's keys and an English key name the same thing."""
    return any(_key_match(k, en, min_ratio) for k in bn)


def _key_match(a: str, b: str, min_ratio: float) -> bool:
    """Same first letter (or both vowels), close lengths, similar."""
    if len(a) < 3 or len(b) < 3 or abs(len(a) - len(b)) > max(2, len(a) // 3):
        return False
    if a[0] != b[0] and not (a[0] in "aeiu" and b[0] in "aeiu"):
        return False
    return a == b or _ratio(a, b) >= min_ratio


# ------------------------------------------------------------------ the earlier consonant skeletons

_BN_ROMAN = {
    "ক": "k", "খ": "k", "গ": "g", "ঘ": "g", "ঙ": "n", "চ": "c", "ছ": "c", "জ": "j", "ঝ": "j", "ঞ": "n",
    "ট": "t", "ঠ": "t", "ড": "d", "ঢ": "d", "ণ": "n", "ত": "t", "থ": "t", "দ": "d", "ধ": "d", "ন": "n",
    "প": "p", "ফ": "f", "ব": "b", "ভ": "b", "ম": "m", "য": "j", "র": "r", "ল": "l", "শ": "s", "ষ": "s",
    "স": "s", "হ": "", "ড়": "r", "ঢ়": "r", "য়": "", "ৎ": "t", "ং": "n", "ঁ": "", "ঃ": "",
}


def bn_skeleton(word: str) -> str:
    """Consonant skeleton of a Bengali word in Latin letters (vowels dropped)."""
    out = [_BN_ROMAN.get(ch, "") for ch in word]
    return re.sub(r"(.)\1+", r"\1", "".join(out))


def en_skeleton(word: str) -> str:
    w = word.lower()
    for a, b in (("ph", "f"), ("ch", "c"), ("sh", "s"), ("th", "t"), ("kh", "k"), ("gh", "g"), ("ck", "k"),
                 ("q", "k"), ("x", "ks"), ("z", "j"), ("v", "b"), ("w", "b")):
        w = w.replace(a, b)
    w = re.sub(r"c(?=[aou]|$)", "k", w)
    w = re.sub(r"c", "s", w)
    w = re.sub(r"[aeiouyh'\-]", "", w)
    return re.sub(r"(.)\1+", r"\1", w)


def skeletons_match(a: str, b: str) -> bool:
    if len(a) < 3 or len(b) < 3 or abs(len(a) - len(b)) > 2 or a[0] != b[0]:
        return False
    return a == b or _ratio(a, b) >= 0.8


# ------------------------------------------------------------------ registry

def _bigrams(key: str) -> set[str]:
    return {key[i:i + 2] for i in range(len(key) - 1)}


class NameMatcher:
    """How a Bengali word and an English word are reduced to comparable keys, and when keys match.
    `all_words`: compare against every English content word (loanwords), not only capitalised ones."""

    def __init__(self, bn: Callable[[str], object], en: Callable[[str], str], match: Callable[[object, str], bool],
                 all_words: bool):
        self.bn, self.en, self.match, self.all_words = bn, en, match, all_words

    def index(self, bn_keys: Iterable, en_keys: Iterable[str], min_dice: float = 0.5) -> dict:
        """bn keys → the en keys they match. Only key pairs whose letter-bigram sets overlap by Dice ≥
        `min_dice` are compared (two spellings 80% alike share most bigrams), so a document costs about
        its vocabulary, not vocabulary²."""
        postings: dict[str, list[str]] = defaultdict(list)
        n_grams: dict[str, int] = {}
        for ek in set(en_keys):
            grams = _bigrams(ek)
            n_grams[ek] = len(grams)
            for g in grams:
                postings[g].append(ek)
        out = {}
        for keys in set(bn_keys):
            hits: set[str] = set()
            for k in keys if isinstance(keys, tuple) else (keys,):
                grams = _bigrams(k)
                if len(k) < 3:
                    continue
                shared = Counter(ek for g in grams for ek in postings.get(g, ()))
                hits.update(ek for ek, c in shared.items()
                            if 2 * c >= min_dice * (len(grams) + n_grams[ek]) and ek not in hits and self.match(keys, ek))
            out[keys] = hits
        return out


NAME_MATCHERS: dict[str, NameMatcher] = {
    "transliteration": NameMatcher(bn_keys, sound_key, keys_match, all_words=True),
    "skeleton": NameMatcher(bn_skeleton, en_skeleton, skeletons_match, all_words=False),
}


def names_match(bn_word: str, en_word: str, matcher: str = "transliteration") -> bool:
    m = NAME_MATCHERS[matcher]
    return m.match(m.bn(bn_word), m.en(en_word))
