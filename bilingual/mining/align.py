"""Sentence alignment inside a pair of comparable bn/en documents, tuned for precision.

Method (no model, nothing downloaded):
1. Evidence that two words translate each other: the bilingual lexicon (lexicon.py), the same Latin-script
   word on both sides (SARS-CoV), the same number (Bengali digits ০–৯ read as 0–9), or a name or loanword
   whose Bengali spelling transliterates to the English one (transliterate.py: আইনস্টাইন/Einstein,
   প্রোটিন/protein).
2. A pair score for bn sentence b and en sentence e: the share of b's words with a counterpart in e, the
   same share from e's side, combined as a harmonic mean; multiplied by a length-ratio factor and by a
   number-agreement factor (numbers present on both sides but disjoint cut the score, shared numbers raise
   it). Words found in more than 8% of the document's en sentences (its topic, e.g. the article's own
   name) count half: sharing them is weak evidence of translation. A side with fewer than 4 content words
   (a heading, a caption) needs a score of 0.7: one shared word is most of such a line.
3. Links: candidate 1–1 links need score ≥ threshold and must be each other's best (mutual best);
   they are taken greedily by score, and kept only if they are in order with the links already taken
   (the kept links form a monotone chain). A 1–2 or 2–1 link replaces a 1–1 link when merging the
   neighbouring sentence raises the score clearly; between two links, unlinked neighbours may form a
   1–2 / 2–1 link at a stricter threshold (n–m links, indices comma-joined).
   Between two anchor links at most 4 sentences apart (on each side), mutual-best 1–1 links are also
   taken at the lower gap threshold 0.15: close anchors vouch for the region.
4. Bootstrapping (`align_documents`): the pairs of a first pass that score ≥ 0.5 are added to the
   trusted pairs, the lexicon is learned again and the documents are aligned again (mine → learn →
   re-mine), so the documents' own vocabulary becomes evidence.
Comparable articles share few true translations, so a missed pair costs less than a wrong one:
threshold and mutual-best favour precision.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from bilingual.mining.lexicon import (BN_DIGITS, BN_STOP, EN_STOP, Lexicon, bn_stem, bn_tokens,  # noqa: F401
                                      default_lexicon, en_stem, en_tokens, is_latin, numbers, parallel_pairs,
                                      tico_doc)
from bilingual.mining.transliterate import NAME_MATCHERS, names_match  # noqa: F401


# ------------------------------------------------------------------ scoring and linking

@dataclass
class _Sent:
    text: str
    words: list[str]
    stems: set[str]
    nums: set[str]
    length: int
    trans: list[frozenset] = None  # bn: per word, its translations (lexicon; a Latin word: itself)
    keys: list = None  # bn: per word, its name keys (None for words that are not names)
    word_stems: list[str] = None  # en: stem of each word
    key_stems: dict = field(default_factory=dict)  # en: name key → stems of the words with it


@dataclass
class Link:
    bn: tuple[int, ...]
    en: tuple[int, ...]
    score: float


class Aligner:
    def __init__(self, lexicon: Lexicon, threshold: float = 0.3, min_words: int = 3, merge_gain: float = 0.1,
                 common_share: float = 0.08, common_weight: float = 0.5, names: Optional[str] = "transliteration",
                 gap_threshold: Optional[float] = 0.15, gap_max: int = 4, short_words: int = 4,
                 short_threshold: float = 0.7):
        self.lex = lexicon
        self.threshold = threshold
        self.min_words = min_words
        self.merge_gain = merge_gain
        self.gap_threshold = gap_threshold
        self.gap_max = gap_max
        self.short_words = short_words  # a side with fewer content words (a heading) needs `short_threshold`
        self.short_threshold = short_threshold
        self.common_share = common_share
        self.common_weight = common_weight
        self.names = NAME_MATCHERS[names] if names else None
        self._name_index: dict = {}  # per align(): bn word keys → matching en keys
        self._common: set[str] = set()  # per align(): en stems in more than `common_share` of the sentences
        self._bn_keys: dict[str, object] = {}
        self._en_keys: dict[str, str] = {}

    def _bn_key(self, word: str):
        if self.names is None or is_latin(word):
            return None
        k = self._bn_keys.get(word)
        if k is None:
            k = self._bn_keys[word] = self.names.bn(word)
        return k

    def _en_key(self, word: str) -> Optional[str]:
        if self.names is None:
            return None
        if not (len(word) >= 3 and word[0].isupper() or self.names.all_words and len(word) >= 4):
            return None
        k = self._en_keys.get(word)
        if k is None:
            k = self._en_keys[word] = self.names.en(word)
        return k

    def prep_bn(self, text: str) -> _Sent:
        words = bn_tokens(text)
        trans = [frozenset((en_stem(w),)) if is_latin(w) else frozenset(self.lex.translations(w)) for w in words]
        return _Sent(text, words, {bn_stem(w) for w in words}, numbers(text), len(text), trans,
                     [self._bn_key(w) for w in words])

    def prep_en(self, text: str) -> _Sent:
        words = en_tokens(text)
        stems = [en_stem(w) for w in words]
        key_stems: dict[str, set[str]] = defaultdict(set)
        for w, st in zip(words, stems):
            k = self._en_key(w)
            if k and len(k) >= 3:
                key_stems[k].add(st)
        return _Sent(text, words, set(stems), numbers(text), len(text), word_stems=stems, key_stems=dict(key_stems))

    def _build_name_index(self, B: list[_Sent], E: list[_Sent]) -> None:
        """bn word keys → the en keys of this document they match (compared once per document)."""
        self._name_index = self.names.index((k for b in B for k in b.keys if k), (k for e in E for k in e.key_stems))

    def score(self, b: _Sent, e: _Sent) -> float:
        if not b.words or not e.words:
            return 0.0
        matched_en: set[str] = set()
        hit_b = 0
        for tr, keys in zip(b.trans, b.keys):
            found = tr & e.stems
            if not found and keys and e.key_stems:
                like = self._name_index.get(keys)
                if like is None:
                    like = {ek for ek in e.key_stems if self.names.match(keys, ek)}
                found = set()
                for ek in like.intersection(e.key_stems):
                    found |= e.key_stems[ek]
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
        """en sentences sharing at least a translation, a number or a name."""
        by_stem: dict[str, set[int]] = defaultdict(set)
        by_num: dict[str, set[int]] = defaultdict(set)
        by_key: dict[str, set[int]] = defaultdict(set)
        for j, e in enumerate(E):
            for st in e.stems:
                by_stem[st].add(j)
            for n in e.nums:
                by_num[n].add(j)
            for k in e.key_stems:
                by_key[k].add(j)
        out = []
        for b in B:
            c: set[int] = set()
            for tr in b.trans:
                for st in tr:
                    c |= by_stem.get(st, set())
            for n in b.nums:
                c |= by_num.get(n, set())
            for keys in b.keys:
                for ek in self._name_index.get(keys, ()) if keys else ():
                    c |= by_key.get(ek, set())
            out.append(c)
        return out

    def align(self, bn: Sequence[str], en: Sequence[str]) -> list[Link]:
        B = [self.prep_bn(t) for t in bn]
        E = [self.prep_en(t) for t in en]
        df = Counter(st for e in E for st in e.stems)
        self._common = {st for st, c in df.items() if len(E) >= 20 and c > self.common_share * len(E)}
        if self.names:
            self._build_name_index(B, E)
        S: dict[tuple[int, int], float] = {}
        for i, (b, cands) in enumerate(zip(B, self._candidates(B, E))):
            if len(b.words) + len(b.nums) < self.min_words - 1:
                continue
            for j in cands:
                if len(E[j].words) >= 2:
                    s = self.score(b, E[j])
                    short = min(len(b.words), len(E[j].words)) < self.short_words
                    if s > 0 and (not short or s >= self.short_threshold):
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
        chosen = sorted(chosen + self._gap_fill(sorted(chosen), S, len(B), len(E)))
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

    def _gap_fill(self, anchors, S, n_b: int, n_e: int) -> list[tuple[int, int, float]]:
        """1–1 links between two consecutive anchor links at the lower `gap_threshold`, in gaps of at most
        `gap_max` sentences on each side: inside the gap a candidate must be the mutual best and keep the chain
        monotone (close anchors vouch for the region; a wide gap, e.g. a section one article lacks, does not)."""
        if self.gap_threshold is None or self.gap_threshold >= self.threshold:
            return []
        import bisect
        starts = [i for i, _, _ in anchors]
        bounds = [(-1, -1)] + [(i, j) for i, j, _ in anchors] + [(n_b, n_e)]
        cells: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
        for (i, j), sc in S.items():
            if sc < self.gap_threshold:
                continue
            k = bisect.bisect_left(starts, i)  # the gap after anchor k-1
            (b0, e0), (b1, e1) = bounds[k], bounds[k + 1]
            if b0 < i < b1 and e0 < j < e1 and b1 - b0 - 1 <= self.gap_max and e1 - e0 - 1 <= self.gap_max:
                cells[k].append((sc, i, j))
        out = []
        for cands in cells.values():
            best_e: dict[int, float] = {}
            best_b: dict[int, float] = {}
            for sc, i, j in cands:
                best_e[i] = max(best_e.get(i, 0.0), sc)
                best_b[j] = max(best_b.get(j, 0.0), sc)
            taken: list[tuple[int, int, float]] = []
            for sc, i, j in sorted(cands, reverse=True):
                if sc == best_e[i] == best_b[j] and all((i - ti) * (j - tj) > 0 for ti, tj, _ in taken):
                    taken.append((i, j, sc))
            out += taken
        return out

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


def align_documents(docs: Sequence[tuple[Sequence[str], Sequence[str]]], lexicon: Lexicon,
                    trusted: Optional[Sequence[tuple[str, str]]] = None, rounds: int = 1, min_score: float = 0.5,
                    progress=None, **aligner_args) -> tuple[list[list[Link]], Lexicon]:
    """Align every (bn sentences, en sentences) document pair; with `trusted` pairs and `rounds` > 0,
    bootstrap: learn the lexicon again from the trusted pairs plus the confidently mined ones
    (score ≥ `min_score`) and align again. Returns the last pass's links per document and its lexicon."""
    rounds = rounds if trusted is not None else 0
    for r in range(rounds + 1):
        aligner = Aligner(lexicon, **aligner_args)
        docs_iter = progress(docs, f"aligning (pass {r + 1}/{rounds + 1})") if progress else docs
        results = [aligner.align(bn, en) for bn, en in docs_iter]
        if r == rounds:
            return results, lexicon
        mined = [(" ".join(bn[i] for i in l.bn), " ".join(en[j] for j in l.en), l.score)
                 for (bn, en), links in zip(docs, results) for l in links]
        lexicon = Lexicon.bootstrap(trusted, mined, min_score=min_score)
    raise AssertionError("unreachable")


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
