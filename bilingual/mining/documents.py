"""Document alignment: which bn page of a site is the translation of which en page (Bitextor's step 1).

1. URL patterns. A page's URL with its language marker taken out — a path segment (/bn/, /en/, /bangla/,
   /english/), a query parameter (?lang=bn, hl=, language=, locale=), a subdomain (bn.site, en.site) or a
   suffix before the extension (story-bn.html, story_en, story.bn.html) — is its `url_key`. A bn page and an
   en page with the same key, each the only page with it, are a pair (method "url").
2. Content, for the pages left. Each page becomes a bag of English-side terms: a bn page gives the lexicon
   translations of its words, its Latin-script words, its numbers (digits in either script) and the sound
   keys of its names (transliterate.py); an en page its stems, numbers and name keys. Terms are weighted
   by idf over the en pages and compared by cosine; each page's `top_k` partners by that similarity are
   then rescored by sentence alignment (the share of both pages' sentences the aligner links).
   Competitive linking in rounds on that score: a pair must be each other's best among the pages still
   unpaired, score ≥ `min_score` and beat the runner-up (on either side) by `margin`; when both pages give
   a publication date they must be within `max_days` (method "content").
Everything else is left unpaired, with the best score it reached (the caller records it as a reason).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bilingual.mining.lexicon import Lexicon, bn_tokens, en_stem, en_tokens, is_latin, numbers
from bilingual.mining.transliterate import bn_keys, sound_key

LANG_CODES = {"bn": ("bn", "ben", "bangla", "bengali", "bn-bd", "bn-in", "bn_bd"),
              "en": ("en", "eng", "english", "en-us", "en-gb", "en_us", "en_gb")}
_ALL_CODES = {c for codes in LANG_CODES.values() for c in codes}
_LANG_PARAMS = {"lang", "language", "hl", "locale", "lng", "l"}
_SUFFIX_RE = re.compile(r"([-_.])(" + "|".join(sorted(map(re.escape, _ALL_CODES), key=len, reverse=True))
                        + r")(?=\.[a-z0-9]+$|$)", re.I)


def url_key(url: str) -> str:
    """The URL with its language marker removed (lower-cased host, no fragment)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    labels = host.split(".")
    if len(labels) > 2 and labels[0] in _ALL_CODES:
        host = ".".join(labels[1:])
    segments = [s for s in parts.path.split("/") if s.lower() not in _ALL_CODES]
    if segments:
        segments[-1] = _SUFFIX_RE.sub("", segments[-1])
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not (k.lower() in _LANG_PARAMS and v.lower() in _ALL_CODES)]
    path = "/".join(segments) or "/"
    return urlunsplit(("", host + (f":{parts.port}" if parts.port else ""), path, urlencode(sorted(query)), ""))


@dataclass
class DocPair:
    bn: int  # index into the bn documents
    en: int
    score: float
    method: str  # "url" | "content"


def _bn_terms(text: str, lex: Lexicon) -> Counter:
    terms: Counter = Counter()
    for w in bn_tokens(text):
        if is_latin(w):
            terms[en_stem(w)] += 1
            continue
        tr = lex.translations(w)
        for e in tr:
            terms[e] += 1 / len(tr)
        if not tr:
            for k in bn_keys(w):
                if len(k) >= 4:
                    terms["~" + k] += 0.5
    for n in numbers(text):
        terms["#" + n] += 1
    return terms


def _en_terms(text: str) -> Counter:
    terms: Counter = Counter()
    for w in en_tokens(text):
        terms[en_stem(w)] += 1
        if len(w) >= 4:
            terms["~" + sound_key(w)] += 0.5
    for n in numbers(text):
        terms["#" + n] += 1
    return terms


def _date(doc: dict) -> Optional[datetime]:
    value = doc.get("revision_time")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def content_scores(bn_docs: Sequence[dict], en_docs: Sequence[dict], lexicon: Lexicon) -> dict[tuple[int, int], float]:
    """Cosine similarity of idf-weighted term bags for every bn/en document pair sharing a term."""
    en_bags = [_en_terms(d.get("text") or "") for d in en_docs]
    df = Counter(t for bag in en_bags for t in bag)
    n = max(1, len(en_bags))
    idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}

    def vec(bag: Counter) -> dict[str, float]:
        v = {t: math.log1p(c) * idf[t] for t, c in bag.items() if c > 0 and t in idf}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}

    en_vecs = [vec(b) for b in en_bags]
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for j, v in enumerate(en_vecs):
        for t, x in v.items():
            postings[t].append((j, x))
    scores: dict[tuple[int, int], float] = {}
    for i, d in enumerate(bn_docs):
        acc: dict[int, float] = defaultdict(float)
        for t, x in vec(_bn_terms(d.get("text") or "", lexicon)).items():
            for j, y in postings.get(t, ()):
                acc[j] += x * y
        for j, s in acc.items():
            scores[(i, j)] = s
    return scores


def _competitive_linking(scores: dict[tuple[int, int], float], bn_docs, en_docs, min_score: float, margin: float,
                         max_days: Optional[int]) -> list[DocPair]:
    """Rounds of mutual-best linking: a pair needs score ≥ `min_score` and a `margin` over the runner-up on
    both sides among the documents still unpaired; pairs taken in a round leave the pool, so a page whose
    best match was someone else's better match gets its own chance next round."""
    pairs: list[DocPair] = []
    left = dict(scores)
    while True:
        by_b: dict[int, list[tuple[float, int]]] = defaultdict(list)
        by_e: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for (i, j), s in left.items():
            by_b[i].append((s, j))
            by_e[j].append((s, i))
        for lst in (*by_b.values(), *by_e.values()):
            lst.sort(reverse=True)
        taken = []
        for i, lst in sorted(by_b.items()):
            s, j = lst[0]
            if s < min_score or by_e[j][0][1] != i:
                continue
            runner_up = max(lst[1][0] if len(lst) > 1 else 0.0, by_e[j][1][0] if len(by_e[j]) > 1 else 0.0)
            if s - runner_up < margin:
                continue
            db, de = _date(bn_docs[i]), _date(en_docs[j])
            if max_days is not None and db and de and abs((db - de).days) > max_days:
                continue
            taken.append(DocPair(i, j, round(s, 4), "content"))
        if not taken:
            return pairs
        pairs += taken
        done_b, done_e = {p.bn for p in taken}, {p.en for p in taken}
        left = {k: s for k, s in left.items() if k[0] not in done_b and k[1] not in done_e}


def verify_candidates(scores: dict[tuple[int, int], float], bn_docs, en_docs, lexicon: Lexicon,
                      top_k: int = 3) -> dict[tuple[int, int], float]:
    """Each page's `top_k` partners by term similarity, rescored by sentence alignment: the share of both
    pages' sentences the aligner links. Translations link most of their sentences; two pages on the same
    topic link few, so this separates what bags of words cannot."""
    from bilingual.mining.align import Aligner
    from bilingual.mining.segment import split_sentences
    ranked_b: dict[int, list[tuple[float, int]]] = defaultdict(list)
    ranked_e: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for (i, j), s in scores.items():
        ranked_b[i].append((s, j))
        ranked_e[j].append((s, i))
    cands = {(i, j) for i, lst in ranked_b.items() for _, j in sorted(lst, reverse=True)[:top_k]}
    cands |= {(i, j) for j, lst in ranked_e.items() for _, i in sorted(lst, reverse=True)[:top_k]}
    sents_b: dict[int, list[str]] = {}
    sents_e: dict[int, list[str]] = {}
    aligner = Aligner(lexicon)
    out = {}
    for i, j in sorted(cands):
        b = sents_b.setdefault(i, split_sentences(bn_docs[i].get("text") or "", "bn"))
        e = sents_e.setdefault(j, split_sentences(en_docs[j].get("text") or "", "en"))
        if not b or not e:
            continue
        links = aligner.align(b, e)
        covered = sum(len(l.bn) for l in links) + sum(len(l.en) for l in links)
        out[(i, j)] = round(covered / (len(b) + len(e)), 4)
    return out


def pair_documents(bn_docs: Sequence[dict], en_docs: Sequence[dict], lexicon: Lexicon, min_score: float = 0.3,
                   margin: float = 0.1, max_days: Optional[int] = 3, use_urls: bool = True,
                   use_content: bool = True, top_k: int = 3) -> tuple[list[DocPair], dict[tuple[str, int], float]]:
    """Pairs of documents (see the module docstring) and, for every document left unpaired, the best
    content score it reached (key: ("bn"|"en", index))."""
    pairs: list[DocPair] = []
    if use_urls:
        bn_by_key: dict[str, list[int]] = defaultdict(list)
        en_by_key: dict[str, list[int]] = defaultdict(list)
        for i, d in enumerate(bn_docs):
            if d.get("url"):
                bn_by_key[url_key(d["url"])].append(i)
        for j, d in enumerate(en_docs):
            if d.get("url"):
                en_by_key[url_key(d["url"])].append(j)
        for key, bs in bn_by_key.items():
            es = en_by_key.get(key, [])
            if len(bs) == 1 and len(es) == 1:
                pairs.append(DocPair(bs[0], es[0], 1.0, "url"))
    used_b = {p.bn for p in pairs}
    used_e = {p.en for p in pairs}
    best: dict[tuple[str, int], float] = {}
    if use_content:
        left_b = [i for i in range(len(bn_docs)) if i not in used_b]
        left_e = [j for j in range(len(en_docs)) if j not in used_e]
        raw = content_scores([bn_docs[i] for i in left_b], [en_docs[j] for j in left_e], lexicon)
        scores = {(left_b[a], left_e[b]): s for (a, b), s in raw.items()}
        verified = verify_candidates(scores, bn_docs, en_docs, lexicon, top_k)
        for (i, j), s in verified.items():
            best[("bn", i)] = max(best.get(("bn", i), s), s)
            best[("en", j)] = max(best.get(("en", j), s), s)
        pairs += _competitive_linking(verified, bn_docs, en_docs, min_score, margin, max_days)
    for p in pairs:
        best.pop(("bn", p.bn), None)
        best.pop(("en", p.en), None)
    return sorted(pairs, key=lambda p: (p.bn, p.en)), best
