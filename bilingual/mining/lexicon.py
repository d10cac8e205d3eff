"""Words, stems and the bilingual lexicon the aligner scores with, learned from sentence pairs.

Tokens: Bengali-script words (stop words dropped) and, on the Bengali side, Latin-script words too
(SARS-CoV, RNA, HCoV appear untranslated in Bengali text and match the English word as they are).
Stems: a suffix-stripping stemmer for each language (no model, predictable).

Lexicon: for stemmed bn word b and stemmed en word e, Dice(b, e) = 2·c(b,e) / (c(b) + c(e)) over sentence
pairs; each bn word keeps its best few translations (c(b,e) ≥ 2, Dice ≥ 0.12). The default lexicon is
learned from the bundled Tatoeba, TICO-19 and NTREX pairs and cached as a JSON artifact.
Bootstrapping (`Lexicon.bootstrap`): pairs the aligner mined with a high score are added to the trusted
pairs and the lexicon is learned again, so words of the mined documents' own domain (bat, zoonotic,
pathogenic in a virology paper) enter the lexicon for the next pass (mine → learn → re-mine).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from functools import lru_cache
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from bilingual.layout import SAMPLES

BN_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
_BN_WORD_RE = re.compile(r"[\u0980-\u09FF\u200c\u200d]+|[A-Za-z][A-Za-z'\-]*[A-Za-z0-9]*")
_EN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_NUM_RE = re.compile(r"\d+(?:[.,]\d+)*")
_BN_SUFFIXES = sorted("""
গুলোকে গুলোর গুলো গুলি গুলির দেরকে দের রা টির টিকে টি টা টার খানা খানি কে তে েতে য়ে য়ের এর ের র য় এ ে ও ই রাই
ছেন ছিলেন েছেন েছিলেন লেন ছিল েছিল েছে ছে বে বেন তেন তো ত ল লো ন
""".split(), key=len, reverse=True)
EN_STOP = frozenset("""
the a an of to in and or is are was were be been being it its this that these those as at by for from on with
which who whom whose what when where why how there their they them he she his her him i you we our your my me us
not no but if then than so such also has have had do does did will would can could may might shall should
""".split())
BN_STOP = frozenset("""
ও এবং এ এই সে তার তাদের যে যা একটি এক করে হয় হয়ে ছিল ছিলেন থেকে জন্য সঙ্গে সাথে কিন্তু বা না এর তিনি তারা
হচ্ছে হল হলো করা করেন হিসেবে হিসাবে তাঁর তাঁদের আর কি কী
""".split())


def is_latin(word: str) -> bool:
    return "A" <= word[:1] <= "z"


@lru_cache(maxsize=1 << 18)
def bn_stem(word: str) -> str:
    if is_latin(word):
        return en_stem(word)
    for suf in _BN_SUFFIXES:
        if len(word) > len(suf) + 1 and word.endswith(suf):
            return word[: -len(suf)]
    return word


@lru_cache(maxsize=1 << 18)
def en_stem(word: str) -> str:
    w = word.lower().strip("'-")
    for suf in ("'s", "ies", "ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUM_RE.findall(text.translate(BN_DIGITS))}


def bn_tokens(text: str) -> list[str]:
    """Bengali words and the Latin-script words written inside Bengali text, stop words dropped."""
    return [w for w in _BN_WORD_RE.findall(text)
            if w not in BN_STOP and not (is_latin(w) and w.lower() in EN_STOP)]


def en_tokens(text: str) -> list[str]:
    return [w for w in _EN_WORD_RE.findall(text) if w.lower() not in EN_STOP]


@dataclass
class Lexicon:
    """bn stem → {en stem: Dice}."""

    table: dict[str, dict[str, float]]

    @classmethod
    def learn(cls, pairs: Iterable[tuple[str, str]], min_count: int = 2, min_dice: float = 0.12,
              top: int = 6) -> "Lexicon":
        cb: Counter = Counter()
        ce: Counter = Counter()
        cbe: Counter = Counter()
        for bn, en in pairs:
            bs = {bn_stem(w) for w in bn_tokens(bn) if not is_latin(w)}
            es = {en_stem(w) for w in en_tokens(en)}
            cb.update(bs)
            ce.update(es)
            for b in bs:
                for e in es:
                    cbe[(b, e)] += 1
        table: dict[str, dict[str, float]] = defaultdict(dict)
        for (b, e), c in cbe.items():
            if c < min_count:
                continue
            dice = 2 * c / (cb[b] + ce[e])
            if dice >= min_dice:
                table[b][e] = round(dice, 4)
        for b in list(table):
            table[b] = dict(sorted(table[b].items(), key=lambda kv: -kv[1])[:top])
        return cls(dict(table))

    @classmethod
    def bootstrap(cls, trusted: Sequence[tuple[str, str]], mined: Iterable[tuple[str, str, float]],
                  min_score: float = 0.5) -> "Lexicon":
        """Learn again from the trusted pairs plus the mined (bn, en, score) pairs scoring ≥ `min_score`."""
        confident = [(b, e) for b, e, s in mined if s >= min_score]
        return cls.learn([*trusted, *confident])

    def save(self, path) -> Path:
        from bilingual.storage import atomic_path
        path = Path(path)
        with atomic_path(path) as tmp:
            with gzip.open(tmp, "wt", encoding="utf-8") as f:
                json.dump(self.table, f, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path) -> "Lexicon":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return cls(json.load(f))

    def translations(self, bn_word: str) -> dict[str, float]:
        if is_latin(bn_word):
            return {}
        return self.table.get(bn_stem(bn_word)) or self.table.get(bn_word) or {}


def tico_doc(tuid: str) -> str:
    return tuid.split(":")[0]


def parallel_pairs(samples_dir=None, exclude_docs: Sequence[str] = (), ntrex: bool = True) -> list[tuple[str, str]]:
    """(bn, en) pairs from the bundled Tatoeba TSV, TICO-19 TMX (minus `exclude_docs`, tuid prefixes)
    and (unless `ntrex` is false) the NTREX files."""
    from bilingual.sources.corpora.readers import read_aligned, read_tmx, read_tsv
    par = Path(samples_dir or SAMPLES) / "parallel"
    pairs = [(r["bn"], r["en"]) for r in read_tsv(par / "tatoeba-ben-eng.tsv")]
    excluded = set(exclude_docs)
    pairs += [(r["bn"], r["en"]) for r in read_tmx(par / "tico19-all.en-bn.tmx")
              if tico_doc(r["provenance"].get("tuid", "")) not in excluded]
    nt = par / "ntrex128"
    if ntrex and nt.exists():
        pairs += [(r["bn"], r["en"]) for r in read_aligned(nt / "newstest2019-ref.ben.txt",
                                                           nt / "newstest2019-src.eng.txt", "ntrex", "CC BY-SA 4.0")]
    return [(b, e) for b, e in pairs if b and e]


def default_lexicon(samples_dir=None, cache_dir=None, exclude_docs: Sequence[str] = ()) -> Lexicon:
    """The lexicon learned from the bundled parallel data, cached (keyed by inputs) as a .json.gz."""
    samples_dir = Path(samples_dir or SAMPLES)
    cache_dir = Path(cache_dir or os.environ.get("BILINGUAL_CACHE", Path.home() / ".cache" / "bilingual"))
    par = samples_dir / "parallel"
    h = hashlib.sha256()
    for p in sorted(par.rglob("*")):
        if p.is_file() and p.suffix in (".tsv", ".tmx", ".txt"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update(("|".join(sorted(exclude_docs)) + "|v3").encode())
    path = cache_dir / f"lexicon-{h.hexdigest()[:16]}.json.gz"
    if path.exists():
        try:
            return Lexicon.load(path)
        except (OSError, ValueError, EOFError):
            pass  # a broken cache file is rebuilt
    lex = Lexicon.learn(parallel_pairs(samples_dir, exclude_docs))
    try:
        lex.save(path)
    except OSError:
        pass
    return lex
