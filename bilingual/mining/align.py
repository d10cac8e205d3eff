"""Sentence alignment inside a pair of comparable bn/en documents, tuned for precision.

Method (no model, nothing downloaded):
1. A bilingual lexicon learned from parallel sentence pairs by co-occurrence: for stemmed bn word b and
   stemmed en word e, Dice(b, e) = 2·c(b,e) / (c(b) + c(e)) over sentence pairs; each bn word keeps
   its best few translations (c(b,e) ≥ 2, Dice ≥ 0.12). The default lexicon is learned from the bundled
   Tatoeba, TICO-19 and NTREX pairs and cached as a JSON artifact; the alignment benchmark learns its own
   lexicon *without* the TICO-19 documents it evaluates on.
2. A pair score for bn sentence b and en sentence e: the share of b's words with a counterpart in e
   (lexicon, same number — Bengali digits ০–৯ read as 0–9 —, or a transliteration-like match of the
   consonant skeletons of a name), the same share from e's side, combined as a harmonic mean;
   multiplied by a length-ratio factor and by a number-agreement factor (numbers present on both
   sides but disjoint cut the score, shared numbers raise it). Words found in more than 8% of the
   document's en sentences (its topic, e.g. the article's own name) count half: sharing them is weak
   evidence of translation.
3. Links: candidate 1–1 links need score ≥ threshold and must be each other's best (mutual best);
   they are taken greedily by score, and kept only if they are in order with the links already taken
   (the kept links form a monotone chain). A 1–2 or 2–1 link replaces a 1–1 link when merging the
   neighbouring sentence raises the score clearly; between two links, unlinked neighbours may form a
   1–2 / 2–1 link at a stricter threshold (n–m links, indices comma-joined).
Comparable articles share few true translations, so a missed pair costs less than a wrong one:
threshold and mutual-best favour precision.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence
from bilingual.layout import SAMPLES

BN_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
_BN_WORD_RE = re.compile(r"[\u0980-\u09FF\u200c\u200d]+")
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


def bn_stem(word: str) -> str:
    for suf in _BN_SUFFIXES:
        if len(word) > len(suf) + 1 and word.endswith(suf):
            return word[: -len(suf)]
    return word


def en_stem(word: str) -> str:
    w = word.lower().strip("'-")
    for suf in ("'s", "ies", "ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUM_RE.findall(text.translate(BN_DIGITS))}


def bn_tokens(text: str) -> list[str]:
    return [w for w in _BN_WORD_RE.findall(text) if w not in BN_STOP]


def en_tokens(text: str) -> list[str]:
    return [w for w in _EN_WORD_RE.findall(text) if w.lower() not in EN_STOP]


# ------------------------------------------------------------------ transliteration-ish name matching

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


def names_match(bn_word: str, en_word: str) -> bool:
    a, b = bn_skeleton(bn_word), en_skeleton(en_word)
    if len(a) < 3 or len(b) < 3:
        return False
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


# ------------------------------------------------------------------ lexicon

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
            bs = {bn_stem(w) for w in bn_tokens(bn)}
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
        return self.table.get(bn_stem(bn_word)) or self.table.get(bn_word) or {}


def parallel_pairs(samples_dir, exclude_docs: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(bn, en) pairs from the bundled Tatoeba TSV, TICO-19 TMX (minus `exclude_docs`, tuid prefixes)
    and NTREX files."""
    from bilingual.sources.corpora.readers import read_aligned, read_tmx, read_tsv
    samples_dir = Path(samples_dir)
    par = samples_dir / "parallel"
    pairs = [(r["bn"], r["en"]) for r in read_tsv(par / "tatoeba-ben-eng.tsv")]
    excluded = set(exclude_docs)
    pairs += [(r["bn"], r["en"]) for r in read_tmx(par / "tico19-all.en-bn.tmx")
              if tico_doc(r["provenance"].get("tuid", "")) not in excluded]
    nt = par / "ntrex128"
    if nt.exists():
        pairs += [(r["bn"], r["en"]) for r in read_aligned(nt / "newstest2019-ref.ben.txt",
                                                           nt / "newstest2019-src.eng.txt", "ntrex", "CC BY-SA 4.0")]
    return [(b, e) for b, e in pairs if b and e]


def tico_doc(tuid: str) -> str:
    return tuid.split(":")[0]


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
    h.update(("|".join(sorted(exclude_docs)) + "|v2").encode())
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


# ------------------------------------------------------------------ scoring and linking

@dataclass
class _Sent:
    text: str
    words: list[str]
    stems: set[str]
    nums: set[str]
    length: int
    trans: list[frozenset] = None  # bn: per word, its lexicon translations
    skels: list[str] = None  # bn: per word skeleton; en: skeletons of capitalised words
    cap_stems: list[str] = None  # en: stems of capitalised words, parallel to skels
    word_stems: list[str] = None  # en: stem of each word
    skel_stems: dict = None  # en: skeleton → stems of the capitalised words with it


@dataclass
class Link:
    bn: tuple[int, ...]
    en: tuple[int, ...]
    score: float


def _skel_match(a: str, b: str) -> bool:
    if len(a) < 3 or len(b) < 3 or abs(len(a) - len(b)) > 2 or a[0] != b[0]:
        return False
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


class Aligner:
    def __init__(self, lexicon: Lexicon, threshold: float = 0.3, min_words: int = 3, merge_gain: float = 0.1,
                 common_share: float = 0.08, common_weight: float = 0.5):
        self.lex = lexicon
        self.threshold = threshold
        self.min_words = min_words
        self.merge_gain = merge_gain
        self._skel_cache: dict[tuple[str, str], bool] = {}
        self._name_index: dict[str, set[str]] = {}  # per align(): bn skeleton → similar en skeletons
        self._common: set[str] = set()  # per align(): en stems in more than `common_share` of the sentences
        self.common_share = common_share
        self.common_weight = common_weight

    def prep_bn(self, text: str) -> _Sent:
        words = bn_tokens(text)
        return _Sent(text, words, {bn_stem(w) for w in words}, numbers(text), len(text),
                     [frozenset(self.lex.translations(w)) for w in words], [bn_skeleton(w) for w in words])

    def prep_en(self, text: str) -> _Sent:
        words = en_tokens(text)
        caps = [w for w in words if len(w) >= 3 and w[0].isupper()]
        stems = [en_stem(w) for w in words]
        skels = [en_skeleton(w) for w in caps]
        cap_stems = [en_stem(w) for w in caps]
        skel_stems: dict[str, set[str]] = defaultdict(set)
        for sk, st in zip(skels, cap_stems):
            skel_stems[sk].add(st)
        return _Sent(text, words, set(stems), numbers(text), len(text), None, skels, cap_stems, stems,
                     dict(skel_stems))

    def _names(self, a: str, b: str) -> bool:
        key = (a, b)
        hit = self._skel_cache.get(key)
        if hit is None:
            hit = self._skel_cache[key] = _skel_match(a, b)
        return hit

    def score(self, b: _Sent, e: _Sent) -> float:
        if not b.words or not e.words:
            return 0.0
        matched_en: set[str] = set()
        hit_b = 0
        for tr, sk in zip(b.trans, b.skels):
            found = tr & e.stems
            if not found and len(sk) >= 3 and e.skel_stems:
                like = self._name_index.get(sk)
                if like is None:
                    found = {st for esk, st in zip(e.skels, e.cap_stems) if self._names(sk, esk)}
                else:
                    found = set()
                    for esk in like.intersection(e.skel_stems):
                        found |= e.skel_stems[esk]
            if found:
                # a word that is in most sentences of the document (its topic, e.g. the article's name)
                # is weak evidence that two sentences are translations
                hit_b += 1.0 if any(st not in self._common for st in found) else self.common_weight
                matched_en |= found
        if not hit_b and not (b.nums & e.nums):
            return 0.0
        hit_e = sum(1.0 if st not in self._common else self.common_weight
                    for st in e.word_stems if st in matched_en)
        shared = b.nums & e.nums
        hit_b += len(shared)
        hit_e += len(shared)
        pb = hit_b / (len(b.words) + len(b.nums))
        pe = min(1.0, hit_e / (len(e.words) + len(e.nums)))
        if pb == 0 or pe == 0:
            return 0.0
        s = 2 * pb * pe / (pb + pe)
        ratio = math.log((b.length + 1) / (e.length + 1))
        s *= math.exp(-max(0.0, abs(ratio) - 0.35) * 2.0)
        if b.nums and e.nums and not shared:
            s *= 0.5
        elif bool(b.nums) != bool(e.nums):
            s *= 0.85
        return s

    def _candidates(self, B: list[_Sent], E: list[_Sent]) -> list[set[int]]:
        """en sentences sharing at least a lexicon translation, a number or a name's consonant skeleton."""
        by_stem: dict[str, set[int]] = defaultdict(set)
        by_num: dict[str, set[int]] = defaultdict(set)
        by_skel: dict[str, set[int]] = defaultdict(set)
        for j, e in enumerate(E):
            for st in e.stems:
                by_stem[st].add(j)
            for n in e.nums:
                by_num[n].add(j)
            for sk in e.skels:
                if len(sk) >= 3:
                    by_skel[sk].add(j)
        out = []
        for b in B:
            c: set[int] = set()
            for tr in b.trans:
                for st in tr:
                    c |= by_stem.get(st, set())
            for n in b.nums:
                c |= by_num.get(n, set())
            for sk in b.skels:  # names: an exact consonant skeleton
                if len(sk) >= 3:
                    c |= by_skel.get(sk, set())
            out.append(c)
        return out

    def align(self, bn: Sequence[str], en: Sequence[str]) -> list[Link]:
        B = [self.prep_bn(t) for t in bn]
        E = [self.prep_en(t) for t in en]
        en_skels = {sk for e in E for sk in e.skels if len(sk) >= 3}
        df = Counter(st for e in E for st in e.stems)
        self._common = {st for st, c in df.items() if len(E) >= 20 and c > self.common_share * len(E)}
        self._name_index = {sk: {esk for esk in en_skels if _skel_match(sk, esk)}
                            for sk in {sk for b in B for sk in b.skels if len(sk) >= 3}}
        S: dict[tuple[int, int], float] = {}
        for i, (b, cands) in enumerate(zip(B, self._candidates(B, E))):
            if len(b.words) + len(b.nums) < self.min_words - 1:
                continue
            for j in cands:
                if len(E[j].words) >= 2:
                    s = self.score(b, E[j])
                    if s > 0:
                        S[(i, j)] = s
        best_e: dict[int, tuple[float, int]] = {}
        best_b: dict[int, tuple[float, int]] = {}
        for (i, j), s in S.items():
            if s > best_e.get(i, (0.0, -1))[0]:
                best_e[i] = (s, j)
            if s > best_b.get(j, (0.0, -1))[0]:
                best_b[j] = (s, i)
        cands = sorted(((s, i, j) for i, (s, j) in best_e.items()
                        if best_b[j][1] == i and s >= self.threshold), reverse=True)
        chosen: list[tuple[int, int, float]] = []
        for s, i, j in cands:
            if all((i - ci) * (j - cj) > 0 for ci, cj, _ in chosen):
                chosen.append((i, j, s))
        chosen.sort()
        used_b = {i for i, _, _ in chosen}
        used_e = {j for _, j, _ in chosen}
        links = []
        for i, j, s in chosen:
            link = Link((i,), (j,), s)
            for di, dj in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                ii, jj = i + di, j + dj
                if di and (ii in used_b or not 0 <= ii < len(B)):
                    continue
                if dj and (jj in used_e or not 0 <= jj < len(E)):
                    continue
                merged = self._merged(bn, en, tuple(sorted({i, ii})), tuple(sorted({j, jj})))
                if merged > link.score + self.merge_gain:
                    link = Link(tuple(sorted({i, ii})), tuple(sorted({j, jj})), merged)
            used_b.update(link.bn)
            used_e.update(link.en)
            links.append(link)
        links += self._gap_links(bn, en, links, used_b, used_e, S)
        return sorted(links, key=lambda l: l.bn)

    def _merged(self, bn, en, bi, ej) -> float:
        return self.score(self.prep_bn(" ".join(bn[k] for k in bi)), self.prep_en(" ".join(en[k] for k in ej)))

    def _gap_links(self, bn, en, links, used_b, used_e, S, max_gap: int = 12) -> list[Link]:
        """1–2 / 2–1 links between consecutive links, where neither half alone passed the threshold:
        only unused neighbours with some 1–1 evidence, and a stricter threshold."""
        bounds = [(-1, -1)] + [(max(l.bn), max(l.en)) for l in sorted(links, key=lambda l: l.bn)] + [(len(bn), len(en))]
        nexts = [(min(l.bn), min(l.en)) for l in sorted(links, key=lambda l: l.bn)] + [(len(bn), len(en))]
        out = []
        for (b0, e0), (b1, e1) in zip(bounds, nexts):
            bs = [i for i in range(b0 + 1, b1) if i not in used_b]
            es = [j for j in range(e0 + 1, e1) if j not in used_e]
            if not bs or not es or len(bs) > max_gap or len(es) > max_gap:
                continue
            cands = []
            for i in bs:
                for j in es:
                    if S.get((i, j), 0) <= 0:
                        continue
                    if j + 1 in es:
                        cands.append((self._merged(bn, en, (i,), (j, j + 1)), (i,), (j, j + 1)))
                    if i + 1 in bs:
                        cands.append((self._merged(bn, en, (i, i + 1), (j,)), (i, i + 1), (j,)))
            for sc, bi, ej in sorted(cands, reverse=True):
                if sc < self.threshold + self.merge_gain:
                    break
                if any(k in used_b for k in bi) or any(k in used_e for k in ej):
                    continue
                if any((bi[0] - l.bn[0]) * (ej[0] - l.en[0]) <= 0 for l in out if b0 < l.bn[0] < b1):
                    continue  # keep the chain monotone
                out.append(Link(bi, ej, sc))
                used_b.update(bi)
                used_e.update(ej)
        return out


def format_links(links: Sequence[Link]) -> list[str]:
    """`bn_index<TAB>en_index<TAB>score` lines; n–m links join indices with commas."""
    return [f"{','.join(map(str, l.bn))}\t{','.join(map(str, l.en))}\t{l.score:.4f}" for l in links]


# ------------------------------------------------------------------ evaluation on real parallel documents

def tico_documents(tmx_path) -> dict[str, list[tuple[str, str]]]:
    """TICO-19 segments grouped by source document (tuid prefix), in tuid order: doc → [(bn, en)]."""
    from bilingual.sources.corpora.readers import read_tmx
    docs: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for r in read_tmx(tmx_path):
        tuid = r["provenance"].get("tuid", "")
        if r["bn"] and r["en"] and ":" in tuid:
            docs[tico_doc(tuid)].append((int(tuid.split(":")[1]), r["bn"], r["en"]))
    return {d: [(b, e) for _, b, e in sorted(v)] for d, v in sorted(docs.items())}


def benchmark_split(doc_names: Iterable[str]) -> list[str]:
    """The TICO-19 documents used for the alignment benchmark: a fixed half, by a hash of the name."""
    return sorted(d for d in doc_names if int(hashlib.sha1(d.encode()).hexdigest(), 16) % 2 == 0)


def make_comparable(docs: dict[str, list[tuple[str, str]]], seed: int = 13, drop: float = 1 / 3):
    """For each document: all bn segments; the en side loses about `drop` of its segments and gets as
    many unrelated en segments from other documents, at random places. Gold = surviving 1–1 links.
    Yields (doc, bn list, en list, gold set of (bn_index, en_index))."""
    import random
    rng = random.Random(seed)
    names = sorted(docs)
    for name in names:
        pairs = docs[name]
        others = [e for n in names if n != name for _, e in docs[n]]
        kept = [(k, e) for k, (_, e) in enumerate(pairs) if rng.random() >= drop]
        n_insert = len(pairs) - len(kept)
        items = [("gold", k, e) for k, e in kept]
        for _ in range(n_insert):
            items.insert(rng.randint(0, len(items)), ("noise", -1, rng.choice(others)))
        en = [e for _, _, e in items]
        gold = {(k, j) for j, (kind, k, _) in enumerate(items) if kind == "gold"}
        yield name, [b for b, _ in pairs], en, gold


def evaluate(aligner: "Aligner", cases) -> dict:
    tp = fp = n_gold = 0
    for _, bn, en, gold in cases:
        pred = {(i, j) for l in aligner.align(bn, en) for i in l.bn for j in l.en}
        tp += len(pred & gold)
        fp += len(pred - gold)
        n_gold += len(gold)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "gold": n_gold,
            "predicted": tp + fp, "correct": tp}
