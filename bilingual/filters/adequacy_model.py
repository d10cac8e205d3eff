"""A bilingual adequacy scorer the project trains itself: is `en` a translation of `bn`?

Why our own: multilingual sentence embeddings (LaBSE, LASER) cannot be downloaded here, and the
heuristic filters (length ratio, script, language ID) pass most misaligned pairs. As in Bicleaner,
a small classifier learns from trusted parallel pairs against noise synthesized from the same pairs:
  negatives  random pair (another document), other_document (another document of the same source: same
             domain, the hardest misalignment), neighbour (the next sentence of the same document),
             truncated side, an extra sentence appended, untranslated copy, one number changed;
  features   lexical translation coverage in both directions (a Dice lexicon learned on the trusted
             pairs, the one bilingual.mining.align learns) overall and on each half of the sentence,
             IBM Model 1 translation probabilities in both directions (learned on the same pairs),
             transliterated names, number agreement (bilingual.filters.steps.numbers), a learned
             length model, sentence and punctuation counts, LID probabilities, verbatim copies;
  model      scikit-learn's HistGradientBoostingClassifier, seeded;
  threshold  the score that rejects `false_reject` of held-out trusted pairs: each document is held out
             once (5 folds of each source's documents) and scored by a model that did not train on it;
             the scorer kept is then trained on every document (a steadier threshold than one slice's
             ~15 lowest pairs, and a lexicon from all the trusted text);
  widening   noisy pairs from other domains (by default OPUS-100's validation set) join the trusted
             set where a first scorer, fit on the trusted pairs alone, accepts them.
`Design` names the feature columns and noise kinds a scorer uses; EXTRA_FEATURES are candidates that
were measured (benchmarks/bench_filter_quality.py --designs) and are computed only when a design asks.
Everything is deterministic for a given seed and trusted set. The fitted scorer is a folder:
`model.joblib` (the classifier; load only folders you made), `lexicon.json.gz`, `ibm1.json.gz`, `scorer.json`
(features, length model, threshold, fingerprint), `idf.json` when the features use it, and `report.json`
(features, noise kinds, sizes, held-out metrics).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from functools import lru_cache

from bilingual.filters.steps.numbers import Numbers, read_numbers
from bilingual.mining.lexicon import Lexicon, bn_stem, bn_tokens, en_stem, en_tokens, is_latin
from bilingual.mining.transliterate import bn_keys, bn_skeleton, en_skeleton, keys_match, sound_key

FEATURES = (
    "cov_bn", "cov_en", "cov_min", "cov_bn_head", "cov_bn_tail", "cov_en_head", "cov_en_tail",
    "len_z", "len_abs_z", "log_chars_bn", "log_words_en", "sent_diff", "num_agreement", "num_hard_bn",
    "num_hard_en", "names_en", "question_diff", "quote_diff", "paren_diff", "lid_bn", "lid_en", "copied_en",
    "known_bn", "known_en", "cov_known_bn", "cov_known_en", "words_bn", "words_en",
    "ibm1_en_given_bn", "ibm1_bn_given_en", "ibm1_min",
)
# candidate features (compared, not in the default design): how much lexical evidence there is (hits and
# misses among known words), idf-weighted coverage, transliterated-name matches (bilingual.mining.transliterate),
# matched/unmatched number counts, IBM Model 1 length-normalized log-probabilities
EXTRA_FEATURES = (
    "hits_known_bn", "miss_known_bn", "hits_known_en", "miss_known_en",
    "idf_cov_known_bn", "idf_cov_known_en", "idf_cov_bn", "idf_cov_en",
    "translit_hit_en", "translit_miss_en", "num_matched", "num_unmatched",
    "ibm1_sum_en_given_bn", "ibm1_sum_bn_given_en",
)
ALL_FEATURES = FEATURES + EXTRA_FEATURES
LEXICON = {"min_count": 1, "min_dice": 0.2, "top": 8}  # rare words count: cross-fitting tells the classifier how much
SKEL_PREFIX = 4
# random: a sentence of another document (of any source); other_document: of another document of the same
# source, i.e. the same domain (what a misaligned news or medical pair looks like)
NOISE_KINDS = ("random", "neighbour", "truncated", "extra_sentence", "untranslated", "number_changed", "other_document")
_SENT_END = re.compile(r"[।.!?](?=\s+\S)")
_NUMBER = re.compile(r"\d+")
_DIGIT = re.compile(r"[0-9\u09e6-\u09ef]")
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}")


# ---------------------------------------------------------------- trusted data and noise

@dataclass
class TrustedPair:
    bn: str
    en: str
    doc: str  # the document (neighbours come from it; held-out pairs are whole documents)


def bundled_trusted(exclude_tico_docs: Iterable[str] = ()) -> list[TrustedPair]:
    """The bundled Tatoeba pairs and TICO-19 documents (minus `exclude_tico_docs`). NTREX-128 and
    OPUS-100 are never used: they are the evaluation sets."""
    from bilingual.layout import PARALLEL_SAMPLES
    from bilingual.mining.align import tico_documents
    from bilingual.sources.corpora.readers import read_tsv

    pairs = [TrustedPair(r["bn"], r["en"], f"tatoeba:{k // 50}")
             for k, r in enumerate(read_tsv(PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv")) if r["bn"] and r["en"]]
    excluded = set(exclude_tico_docs)
    for doc, segs in tico_documents(PARALLEL_SAMPLES / "tico19-all.en-bn.tmx").items():
        if doc not in excluded:
            pairs += [TrustedPair(b, e, f"tico:{doc}") for b, e in segs]
    return pairs


def bundled_widening() -> list[TrustedPair]:
    """OPUS-100's bundled validation set (subtitles, software strings, assorted web text): a wider domain
    than Tatoeba + TICO-19 but noisy, so `fit_scorer` keeps only the pairs a first scorer accepts. Never
    OPUS-100's test set (an evaluation set of build_corpus), nor the validation pairs that repeat one of its
    sentences (OPUS-100 has a few, e.g. "Thanks.")."""
    from bilingual.layout import PARALLEL_SAMPLES

    o = PARALLEL_SAMPLES / "opus100"
    test = set()
    for side in ("bn", "en"):
        test.update((o / f"opus100.en-bn-test.{side}").read_text(encoding="utf-8").splitlines())
    pairs = read_trusted([f"{o}/opus100.en-bn-validation.bn,{o}/opus100.en-bn-validation.en"])
    # documents named by the set, not by the checkout's path: the scorer's fingerprint is the same everywhere
    return [TrustedPair(p.bn, p.en, "opus100-validation:" + p.doc.rsplit(":", 1)[1])
            for p in pairs if p.bn not in test and p.en not in test]


def bundled_dictionary() -> list[tuple[str, str]]:
    """(bn, en) entries of the bundled TICO-19 terminology lists (Facebook's and Google's COVID-19 terms;
    "a/ b" alternatives on the bn side become one entry each): a dictionary, not sentences, so it feeds
    only the lexicon and IBM 1, never the classifier's examples."""
    import csv

    from bilingual.layout import PARALLEL_SAMPLES

    out = []
    for name in ("terminology_facebook_en-bn_IN.csv", "terminology_google_en_bn.csv"):
        with open(PARALLEL_SAMPLES / name, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                en = (row.get("sourceString") or "").strip()
                out += [(bn.strip(), en) for bn in (row.get("targetString") or "").split("/") if bn.strip() and en]
    return out


def read_trusted(paths: Sequence[str]) -> list[TrustedPair]:
    """Trusted pairs a recipe names: .tsv (Tatoeba shape), .tmx, or `x.bn,x.en` line-aligned files.
    A file's lines in order are its document (TMX: the tuid prefix)."""
    from bilingual.mining.lexicon import tico_doc
    from bilingual.sources.corpora.readers import read_aligned, read_tmx, read_tsv

    out = []
    for spec in paths:
        if "," in spec:
            bn_path, en_path = spec.split(",", 1)
            rows = read_aligned(bn_path, en_path, "trusted", "unknown")
        elif spec.endswith(".tmx"):
            rows = read_tmx(spec)
        elif spec.endswith(".tsv"):
            rows = read_tsv(spec)
        else:
            raise ValueError(f"{spec}: trusted pairs must be a .tsv, a .tmx or 'file.bn,file.en'; rename or convert it")
        for k, r in enumerate(rows):
            if r["bn"] and r["en"]:
                tuid = (r.get("provenance") or {}).get("tuid", "")
                out.append(TrustedPair(r["bn"], r["en"], f"{spec}:{tico_doc(tuid) if tuid else k // 50}"))
    return out


def _change_number(text: str, rng: random.Random) -> Optional[str]:
    found = list(_NUMBER.finditer(text))
    if not found:
        return None
    m = rng.choice(found)
    digits = list(m.group(0))
    k = rng.randrange(len(digits))
    digits[k] = rng.choice([d for d in "0123456789" if d != digits[k] and (k or len(digits) == 1 or d != "0")])
    return text[:m.start()] + "".join(digits) + text[m.end():]


def _truncate(text: str, rng: random.Random, share: Optional[float] = None) -> Optional[str]:
    words = text.split()
    if len(words) < 4:
        return None
    keep = max(1, round(len(words) * (share if share is not None else rng.uniform(0.25, 0.6))))
    return " ".join(words[:keep])


def synthesize(pairs: Sequence[TrustedPair], seed: int, kinds: Sequence[str] = NOISE_KINDS) -> list[tuple[str, str, str]]:
    """(bn, en, kind) for each pair: the pair itself ("true") and one noisy pair of a kind drawn in
    turn (on the en side or the bn side by a coin), so that classes stay balanced."""
    rng = random.Random(seed)
    by_doc: dict[str, list[int]] = {}
    by_source: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_doc.setdefault(p.doc, []).append(i)
        by_source.setdefault(p.doc.rsplit(":", 1)[0], []).append(i)
    out: list[tuple[str, str, str]] = []
    n = len(pairs)
    for i, p in enumerate(pairs):
        out.append((p.bn, p.en, "true"))
        doc = by_doc[p.doc]
        pos = doc.index(i) if len(doc) < 400 else None
        for attempt in range(4):
            kind = kinds[(i + attempt) % len(kinds)]
            flip = rng.random() < 0.5  # corrupt the bn side instead of the en side
            noisy = None
            if kind == "random":
                j = rng.randrange(n)
                if pairs[j].doc != p.doc:
                    noisy = (p.bn, pairs[j].en) if not flip else (pairs[j].bn, p.en)
            elif kind == "other_document":
                same = by_source[p.doc.rsplit(":", 1)[0]]
                j = same[rng.randrange(len(same))]
                if pairs[j].doc != p.doc:
                    noisy = (p.bn, pairs[j].en) if not flip else (pairs[j].bn, p.en)
            elif kind == "neighbour" and pos is not None and len(doc) > 1 and not p.doc.startswith("tatoeba:"):
                j = doc[pos + 1] if pos + 1 < len(doc) else doc[pos - 1]
                noisy = (p.bn, pairs[j].en) if not flip else (pairs[j].bn, p.en)
            elif kind == "truncated":
                t = _truncate(p.bn if flip else p.en, rng)
                if t:
                    noisy = (t, p.en) if flip else (p.bn, t)
            elif kind == "extra_sentence":
                j = doc[pos + 1] if pos is not None and pos + 1 < len(doc) else rng.randrange(n)
                if j != i:
                    noisy = (p.bn + " " + pairs[j].bn, p.en) if flip else (p.bn, p.en + " " + pairs[j].en)
            elif kind == "untranslated":
                noisy = (p.en, p.en) if flip else (p.bn, p.bn)
            elif kind == "number_changed":
                t = _change_number(p.en, rng)
                if t:
                    noisy = (p.bn, t)
            if noisy:
                out.append((noisy[0], noisy[1], kind))
                break
    return out


# ---------------------------------------------------------------- features

def _lid(texts: list[str], lang: str) -> np.ndarray:
    from bilingual.langid import LanguageIdentifier, predict_fast

    model = LanguageIdentifier().model
    return np.array([p if l == lang else 0.0 for l, p in predict_fast(model, texts, 300)])


def train_ibm1(src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]], iterations: int = 5,
               min_prob: float = 0.01, top: int = 10) -> dict[str, dict[str, float]]:
    """IBM Model 1 translation probabilities t(tgt word | src word) by EM (with a NULL source word),
    vectorized over all co-occurrences; kept: p ≥ min_prob, best `top` per source word.
    Why: on a few thousand pairs its probabilities separate real translations from topic words far
    better than co-occurrence alone (Bicleaner's probabilistic dictionaries come from the same model)."""
    src_ids: dict[str, int] = {}
    tgt_ids: dict[str, int] = {}
    groups, s_col, t_col = [], [], []
    g = 0
    for s_words, t_words in zip(src, tgt):
        sids = [0] + [src_ids.setdefault(w, len(src_ids) + 1) for w in sorted(set(s_words))]
        for w in sorted(set(t_words)):
            tid = tgt_ids.setdefault(w, len(tgt_ids))
            groups.extend([g] * len(sids))
            s_col.extend(sids)
            t_col.extend([tid] * len(sids))
            g += 1
    if not g:
        return {}
    n_t = len(tgt_ids)
    key = np.asarray(s_col, dtype=np.int64) * n_t + np.asarray(t_col, dtype=np.int64)
    grp = np.asarray(groups, dtype=np.int64)
    uk, inv = np.unique(key, return_inverse=True)
    k_src = uk // n_t
    t = np.ones(len(uk))
    for _ in range(iterations):
        w = t[inv]
        post = w / np.bincount(grp, weights=w, minlength=g)[grp]
        c = np.bincount(inv, weights=post, minlength=len(uk))
        t = c / np.bincount(k_src, weights=c)[k_src]
    src_words = {i: w for w, i in src_ids.items()}
    tgt_words = {i: w for w, i in tgt_ids.items()}
    table: dict[str, dict[str, float]] = {}
    for k in np.flatnonzero((t >= min_prob) & (k_src > 0)):
        table.setdefault(src_words[int(k_src[k])], {})[tgt_words[int(uk[k] % n_t)]] = round(float(t[k]), 5)
    return {sw: dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:top]) for sw, d in sorted(table.items())}


@dataclass
class Probabilities:
    """IBM Model 1 tables in both directions over stems: en_given_bn[b][e], bn_given_en[e][b]."""

    en_given_bn: dict[str, dict[str, float]]
    bn_given_en: dict[str, dict[str, float]]

    @classmethod
    def learn(cls, pairs: Iterable[tuple[str, str]]) -> "Probabilities":
        bs, es = [], []
        for bn, en in pairs:
            bs.append([_bn_stem(w) for w in bn_tokens(bn)])
            es.append([_en_stem(w) for w in en_tokens(en)])
        return cls(train_ibm1(bs, es), train_ibm1(es, bs))

    def save(self, path) -> Path:
        import gzip

        from bilingual.storage import atomic_path

        with atomic_path(Path(path)) as tmp:
            with gzip.open(tmp, "wt", encoding="utf-8") as f:
                json.dump({"en_given_bn": self.en_given_bn, "bn_given_en": self.bn_given_en}, f, ensure_ascii=False)
        return Path(path)

    @classmethod
    def load(cls, path) -> "Probabilities":
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as f:
            d = json.load(f)
        return cls(d["en_given_bn"], d["bn_given_en"])


def _mean_log_best(targets: Sequence[str], sources: Sequence[str], table: dict[str, dict[str, float]]) -> float:
    """Mean over target words of log max_source t(target | source): how well one side explains the other."""
    if not targets:
        return 0.0
    rows = [table.get(w) for w in set(sources)]
    rows = [r for r in rows if r]
    total = 0.0
    for w in targets:
        best = max((r.get(w, 0.0) for r in rows), default=0.0)
        total += math.log(max(best, 1e-4))
    return total / len(targets)


def _mean_log_sum(targets: Sequence[str], sources: Sequence[str], table: dict[str, dict[str, float]]) -> float:
    """IBM Model 1's length-normalized log-probability: mean over target words of log(Σ_source t / (|sources|+1))."""
    if not targets:
        return 0.0
    rows = [table.get(w) for w in sources]
    rows = [r for r in rows if r]
    norm = math.log(len(sources) + 1)
    total = 0.0
    for w in targets:
        total += math.log(max(sum(r.get(w, 0.0) for r in rows), 1e-4)) - norm
    return total / len(targets)


def learn_idf(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, float], dict[str, float]]:
    """Inverse sentence frequency of bn and en stems over trusted pairs: rare content words weigh more."""
    from collections import Counter

    cb, ce, n = Counter(), Counter(), 0
    for bn, en in pairs:
        n += 1
        cb.update({_bn_stem(w) for w in bn_tokens(bn)})
        ce.update({_en_stem(w) for w in en_tokens(en)})
    return ({w: round(math.log((n + 1) / (c + 1)), 4) for w, c in sorted(cb.items())},
            {w: round(math.log((n + 1) / (c + 1)), 4) for w, c in sorted(ce.items())})


@lru_cache(maxsize=200_000)
def _bn_sound(word: str) -> tuple[str, ...]:
    return bn_keys(word)


@lru_cache(maxsize=200_000)
def _en_sound(word: str) -> str:
    return sound_key(word)


class Featurizer:
    """Turns (bn, en) pairs into the FEATURES matrix with a lexicon learned on trusted pairs."""

    def __init__(self, lexicon: Lexicon, length_model: tuple[float, float, float] = (0.0, 1.0, 1.0),
                 probs: Optional[Probabilities] = None, idf: Optional[tuple[dict, dict]] = None,
                 features: Sequence[str] = FEATURES):
        self.lexicon = lexicon
        self.probs = probs or Probabilities({}, {})
        self.idf = idf or ({}, {})
        self.features = tuple(features)
        self._columns = [ALL_FEATURES.index(f) for f in self.features]
        self._extra = bool(set(self.features) & set(EXTRA_FEATURES))
        self._idf_max = tuple(max(d.values(), default=1.0) for d in self.idf)  # an unknown word is as rare as the rarest
        self.length_model = length_model  # log(chars_en) ≈ a + b·log(chars_bn), residual sd
        self.reverse: dict[str, set[str]] = {}
        for b, trans in lexicon.table.items():
            for e in trans:
                self.reverse.setdefault(e, set()).add(b)

    @staticmethod
    def fit_length_model(pairs: Sequence[tuple[str, str]]) -> tuple[float, float, float]:
        x = np.log1p([len(b) for b, _ in pairs])
        y = np.log1p([len(e) for _, e in pairs])
        b, a = np.polyfit(x, y, 1)
        sd = float(np.std(y - (a + b * x))) or 1.0
        return float(a), float(b), sd

    def _coverage(self, bn: str, en: str) -> list[float]:
        bw_raw = bn_tokens(bn)
        bw = [_bn_stem(w) for w in bw_raw]
        ew_raw = en_tokens(en)
        ew = [_en_stem(w) for w in ew_raw]
        es, bs = set(ew), set(bw)
        bsk = [_bn_skel(w) for w in bw_raw]
        esk = [_en_skel(w) for w in ew_raw]
        # a transliterated name or loanword shares its consonant skeleton, or at least its first SKEL_PREFIX consonants
        bskel = {k for k in bsk if len(k) >= 3} | {k[:SKEL_PREFIX] for k in bsk if len(k) >= SKEL_PREFIX}
        eskel = {k for k in esk if len(k) >= 3} | {k[:SKEL_PREFIX] for k in esk if len(k) >= SKEL_PREFIX}
        bsk = [k[:SKEL_PREFIX] if len(k) >= SKEL_PREFIX else k for k in bsk]
        esk = [k[:SKEL_PREFIX] if len(k) >= SKEL_PREFIX else k for k in esk]
        table, reverse = self.lexicon.table, self.reverse
        bn_hit = [not es.isdisjoint(table.get(w, ())) or k in eskel for w, k in zip(bw, bsk)]
        en_hit = [not bs.isdisjoint(reverse.get(w, ())) or k in bskel for w, k in zip(ew, esk)]
        # coverage among the words the lexicon knows: new-domain text has many unknown words, and an
        # unknown word is no evidence either way
        bn_known = [w in table for w in bw]
        en_known = [w in reverse for w in ew]
        known_hits_bn = [h for h, k in zip(bn_hit, bn_known) if k]
        known_hits_en = [h for h, k in zip(en_hit, en_known) if k]

        def share(hits):
            return sum(hits) / len(hits) if hits else 0.0

        def halves(hits):
            h = (len(hits) + 1) // 2
            return share(hits[:h]), share(hits[h:]) if len(hits) > 1 else share(hits)

        cb, ce = share(bn_hit), share(en_hit)
        names = [w for w in _CAPITAL.findall(en)]
        names_hit = share([_en_skel(w)[:SKEL_PREFIX] in bskel for w in names]) if names else 1.0
        copied = share([w in bn for w in ew_raw if len(w) > 2]) if ew_raw else 0.0
        ibm_en = _mean_log_best(ew, bw, self.probs.en_given_bn)
        ibm_bn = _mean_log_best(bw, ew, self.probs.bn_given_en)
        extra = [share(bn_known), share(en_known), share(known_hits_bn) if known_hits_bn else -1.0,
                 share(known_hits_en) if known_hits_en else -1.0, len(bw), len(ew), ibm_en, ibm_bn,
                 min(ibm_en, ibm_bn)]
        candidates = self._candidates(bw_raw, bw, bn_hit, bn_known, ew_raw, ew, en_hit, en_known) if self._extra else []
        return [cb, ce, min(cb, ce), *halves(bn_hit), *halves(en_hit), names_hit, copied], extra, candidates

    def _candidates(self, bw_raw, bw, bn_hit, bn_known, ew_raw, ew, en_hit, en_known) -> list[float]:
        """EXTRA_FEATURES but the number counts (transform adds those): computed only when a design asks for them."""
        idf_bn, idf_en = self.idf

        def weighted(hits, words, known, idf, unknown):
            w = [idf.get(x, unknown) for x, k in zip(words, known) if k]
            total = sum(w)
            return sum(a for a, h in zip(w, [x for x, k in zip(hits, known) if k]) if h) / total if total else -1.0

        # transliteration (bilingual.mining.transliterate): English names, and words the lexicon does not know,
        # that sound like a Bengali word the lexicon did not already match
        free_bn = [_bn_sound(w) for w, h in zip(bw_raw, bn_hit) if not h and not is_latin(w)]
        t_hit = t_miss = 0
        for w, h, k in zip(ew_raw, en_hit, en_known):
            if h or len(w) < 4 or (k and not w[0].isupper()):
                continue
            if any(keys_match(b, _en_sound(w)) for b in free_bn):
                t_hit += 1
            else:
                t_miss += 1
        hb = [h for h, k in zip(bn_hit, bn_known) if k]
        he = [h for h, k in zip(en_hit, en_known) if k]
        every_bn, every_en = [True] * len(bw), [True] * len(ew)
        return [
            sum(hb), len(hb) - sum(hb), sum(he), len(he) - sum(he),
            weighted(bn_hit, bw, bn_known, idf_bn, 0.0), weighted(en_hit, ew, en_known, idf_en, 0.0),
            weighted(bn_hit, bw, every_bn, idf_bn, self._idf_max[0]), weighted(en_hit, ew, every_en, idf_en, self._idf_max[1]),
            t_hit, t_miss,
            _mean_log_sum(ew, bw, self.probs.en_given_bn), _mean_log_sum(bw, ew, self.probs.bn_given_en),
        ]

    def transform(self, bn: Sequence[str], en: Sequence[str], lid: Optional[tuple] = None) -> np.ndarray:
        """`lid`: (bn probabilities, en probabilities) of the expected language when a langid step
        already computed them; else fastText is run here."""
        a, b, sd = self.length_model
        lid_bn, lid_en = lid if lid is not None else (_lid(list(bn), "bn"), _lid(list(en), "en"))
        rows = []
        for k, (tb, te) in enumerate(zip(bn, en)):
            (cb, ce, cmin, bh, bt, eh, et, names, copied), extra, cand = self._coverage(tb, te)
            z = (math.log1p(len(te)) - (a + b * math.log1p(len(tb)))) / sd
            if _DIGIT.search(tb) or _DIGIT.search(te):
                nb, ne = read_numbers(tb), read_numbers(te)
                hard_bn, hard_en = sum(nb.hard.values()), sum(ne.hard.values())
                matched = _matched(nb, ne) + _matched(ne, nb)
                agree = matched / (hard_bn + hard_en) if hard_bn + hard_en else 1.0
            else:
                hard_bn = hard_en = matched = 0
                agree = 1.0
            if self._extra:  # EXTRA_FEATURES order: the number counts sit between transliteration and IBM 1 sums
                cand = cand[:10] + [matched, hard_bn + hard_en - matched] + cand[10:]
            rows.append([
                cb, ce, cmin, bh, bt, eh, et, z, abs(z), math.log1p(len(tb)), math.log1p(len(te.split())),
                len(_SENT_END.findall(te)) - len(_SENT_END.findall(tb)), agree,
                hard_bn, hard_en, names,
                te.count("?") - tb.count("?"), _quotes(te) - _quotes(tb), te.count("(") - tb.count("("),
                lid_bn[k], lid_en[k], copied, *extra, *cand,
            ])
        width = len(ALL_FEATURES) if self._extra else len(FEATURES)
        full = np.asarray(rows, dtype=np.float32).reshape(len(rows), width)
        return full if self.features == ALL_FEATURES[:width] else full[:, self._columns]


def _matched(a: Numbers, b: Numbers) -> int:
    from bilingual.filters.steps.numbers import _found

    return sum(c for v, c in a.hard.items() if _found(v, b))


_bn_skel = lru_cache(maxsize=200_000)(bn_skeleton)
_en_skel = lru_cache(maxsize=200_000)(en_skeleton)
_bn_stem = lru_cache(maxsize=200_000)(bn_stem)
_en_stem = lru_cache(maxsize=200_000)(en_stem)


def _quotes(t: str) -> int:
    return sum(t.count(q) for q in '"“”')


# ---------------------------------------------------------------- the scorer

@dataclass
class AdequacyScorer:
    featurizer: Featurizer
    model: object  # a fitted scikit-learn classifier with predict_proba
    threshold: float
    report: dict = field(default_factory=dict)

    def score(self, bn: Sequence[str], en: Sequence[str], lid: Optional[tuple] = None) -> np.ndarray:
        """P(translation) per pair, in [0, 1]."""
        if len(bn) == 0:
            return np.zeros(0)
        return self.model.predict_proba(self.featurizer.transform(bn, en, lid))[:, 1]

    # ---- persistence: a folder with the classifier, the lexicon, the length model and the report
    def save(self, folder) -> Path:
        import joblib

        from bilingual.storage import atomic_path, write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.featurizer.lexicon.save(folder / "lexicon.json.gz")
        self.featurizer.probs.save(folder / "ibm1.json.gz")
        with atomic_path(folder / "model.joblib") as tmp:
            joblib.dump(self.model, tmp)
        write_json(folder / "report.json", self.report)
        if self.featurizer.idf != ({}, {}):
            write_json(folder / "idf.json", {"bn": self.featurizer.idf[0], "en": self.featurizer.idf[1]})
        write_json(folder / "scorer.json", {"threshold": self.threshold, "length_model": list(self.featurizer.length_model),
                                            "features": list(self.featurizer.features),
                                            "fingerprint": self.report.get("fingerprint")})
        return folder

    @classmethod
    def load(cls, folder) -> "AdequacyScorer":
        import joblib

        folder = Path(folder)
        meta = json.loads((folder / "scorer.json").read_text(encoding="utf-8"))
        features = meta.get("features") or []
        if not features or not set(features) <= set(ALL_FEATURES):
            raise ValueError(f"{folder}: adequacy scorer made with features this version lacks; delete the folder to retrain it")
        idf = None
        if (folder / "idf.json").exists():
            d = json.loads((folder / "idf.json").read_text(encoding="utf-8"))
            idf = (d["bn"], d["en"])
        feat = Featurizer(Lexicon.load(folder / "lexicon.json.gz"), tuple(meta["length_model"]),
                          Probabilities.load(folder / "ibm1.json.gz"), idf, features)
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        return cls(feat, joblib.load(folder / "model.joblib"), float(meta["threshold"]), report)


def learn_lexicon(pairs: Iterable[tuple[str, str]]) -> Lexicon:
    """bilingual.mining.align's Dice lexicon, its ties broken by word (not by set order, which changes
    from process to process), so that a scorer is the same in every run."""
    top = LEXICON["top"]
    lex = Lexicon.learn(pairs, min_count=LEXICON["min_count"], min_dice=LEXICON["min_dice"], top=10 ** 9)
    return Lexicon({b: dict(sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))[:top]) for b, t in sorted(lex.table.items())})


SCORER_VERSION = 5  # bump when features, noise or training change: cached scorers are then retrained


def fingerprint(pairs: Sequence[TrustedPair], design: "Design" = None, **params) -> str:
    """Names a scorer by its trusted data, parameters, design (features, noise kinds, classifier, threshold
    procedure) and SCORER_VERSION."""
    from dataclasses import asdict

    h = hashlib.sha256(json.dumps(dict(params, version=SCORER_VERSION, lexicon=LEXICON, skeleton_prefix=SKEL_PREFIX,
                                       **asdict(design or DESIGN)), sort_keys=True).encode())
    for p in pairs:
        h.update(f"{p.doc}\t{p.bn}\t{p.en}\n".encode())
    return h.hexdigest()[:16]


# features whose growth can only mean "more of a translation" (evidence found), for monotonic constraints;
# shares over known words are not among them (-1 = no known word = no evidence), nor names (1.0 = no names)
_INCREASING = {"cov_bn", "cov_en", "cov_min", "cov_bn_head", "cov_bn_tail", "cov_en_head", "cov_en_tail",
               "num_agreement", "lid_bn", "lid_en", "ibm1_en_given_bn", "ibm1_bn_given_en", "ibm1_min",
               "ibm1_sum_en_given_bn", "ibm1_sum_bn_given_en"}
_DECREASING = {"len_abs_z"}


@dataclass(frozen=True)
class Design:
    """What a scorer learns from and how its threshold is set: its feature columns, the noise kinds it is
    trained against, the classifier's settings, and the threshold procedure.
    `same_source_extra`: each trusted pair also gets an `other_document` negative besides its turn in the rotation.
    `monotonic`: the classifier may only raise P(translation) with more lexical/IBM 1/number/LID evidence
    and lower it with a worse length ratio (a prior that holds in every domain, not learned from this one).
    `threshold_folds`: 1 = the threshold comes from one held-out slice of each source's documents and the
    model never sees them; K > 1 = every document is held out once (K models), the threshold comes from all
    those held-out scores, and the model is then trained on every document."""

    features: tuple = FEATURES
    kinds: tuple = NOISE_KINDS
    same_source_extra: bool = False
    monotonic: bool = False
    max_iter: int = 200  # an upper bound: the classifier stops early on its own validation split
    threshold_folds: int = 5
    dictionary: bool = False  # the lexicon and IBM 1 also learn from the bundled terminology (bundled_dictionary)

    def featurizer(self, pairs: Sequence[tuple[str, str]], length_model) -> Featurizer:
        idf = learn_idf(pairs) if set(self.features) & set(EXTRA_FEATURES) else None
        words = list(pairs) + (bundled_dictionary() if self.dictionary else [])
        return Featurizer(learn_lexicon(words), length_model, Probabilities.learn(words), idf, self.features)

    def noise(self, pairs: Sequence[TrustedPair], seed: int) -> list[tuple[str, str, str]]:
        out = synthesize(pairs, seed, self.kinds)
        if self.same_source_extra:
            out += [x for x in synthesize(pairs, seed + 1000, ("other_document",)) if x[2] != "true"]
        return out

    def classifier(self, seed: int):
        from sklearn.ensemble import HistGradientBoostingClassifier

        cst = [1 if f in _INCREASING else -1 if f in _DECREASING else 0 for f in self.features] if self.monotonic else None
        return HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31,
                                              l2_regularization=1.0, random_state=seed, monotonic_cst=cst)


DESIGN = Design()


def split_documents(pairs: Sequence[TrustedPair], seed: int, heldout_share: float = 0.15,
                    heldout_fold: int = 0) -> tuple[list[TrustedPair], list[TrustedPair]]:
    """(train, held-out): whole documents, `heldout_share` of each source's, the `heldout_fold`-th slice."""
    docs = sorted({p.doc for p in pairs})
    random.Random(seed).shuffle(docs)
    held_docs = set()
    for source in sorted({d.rsplit(":", 1)[0] for d in docs}):  # a share of each source's documents
        mine = [d for d in docs if d.rsplit(":", 1)[0] == source]
        k = max(1, round(len(mine) * heldout_share))
        held_docs.update(mine[heldout_fold * k:(heldout_fold + 1) * k] if len(mine) > 1 else [])
    return [p for p in pairs if p.doc not in held_docs], [p for p in pairs if p.doc in held_docs]


def training_matrix(train: Sequence[TrustedPair], length_model, seed: int, folds: int = 3,
                    design: Design = DESIGN) -> tuple[np.ndarray, np.ndarray, int]:
    """Cross-fitted features and labels: a training pair's features come from a lexicon learned on the
    OTHER folds, so that the classifier sees the coverage of text the lexicon has not seen, as on new data."""
    train_docs = sorted({p.doc for p in train})
    fold_of = {d: k % folds for k, d in enumerate(train_docs)}
    x_parts, labels = [], []
    for f in range(folds):
        inside = [p for p in train if fold_of[p.doc] == f]
        others = [(p.bn, p.en) for p in train if fold_of[p.doc] != f]
        syn = design.noise(inside, seed + 10 + f)
        x_parts.append(design.featurizer(others, length_model).transform([b for b, _, _ in syn], [e for _, e, _ in syn]))
        labels += [k == "true" for _, _, k in syn]
    return np.concatenate(x_parts), np.array(labels, dtype=np.int8), len(labels)


def heldout_examples(held: Sequence[TrustedPair], seed: int) -> list[tuple[str, str, str]]:
    """The held-out evaluation set, the same whatever the design: every true pair, one noisy pair per pair
    in the rotation of the other kinds, and one pair with a sentence of another document of the same source."""
    return (synthesize(held, seed + 1, tuple(k for k in NOISE_KINDS if k != "other_document"))
            + [x for x in synthesize(held, seed + 2, ("other_document",)) if x[2] != "true"])


def heldout_metrics(scores: np.ndarray, kinds: np.ndarray, false_reject: float) -> tuple[float, dict]:
    """The threshold rejecting `false_reject` of the held-out true pairs, and what it catches of each kind."""
    from sklearn.metrics import roc_auc_score

    true_scores = scores[kinds == "true"]
    threshold = float(np.quantile(true_scores, false_reject))
    same = np.isin(kinds, ("true", "other_document"))
    return threshold, {
        "false_reject": round(float((true_scores < threshold).mean()), 4),
        "caught": {k: round(float((scores[kinds == k] < threshold).mean()), 4)
                   for k in NOISE_KINDS if (kinds == k).any()},
        "auc": round(float(roc_auc_score(kinds == "true", scores)), 4),
        "auc_other_document": round(float(roc_auc_score(kinds[same] == "true", scores[same])), 4),
    }


def document_folds(pairs: Sequence[TrustedPair], seed: int, k: int) -> dict[str, int]:
    """Each document's fold (0..k-1), dealt in turn within each source after a seeded shuffle, so that every
    fold holds documents of every source; a source of one document is in none (-1: always trained on)."""
    docs = sorted({p.doc for p in pairs})
    random.Random(seed).shuffle(docs)
    out: dict[str, int] = {}
    for source in sorted({d.rsplit(":", 1)[0] for d in docs}):
        mine = [d for d in docs if d.rsplit(":", 1)[0] == source]
        out.update({d: (i % k if len(mine) > 1 else -1) for i, d in enumerate(mine)})
    return out


def _train(train: Sequence[TrustedPair], seed: int, folds: int, design: Design):
    """Length model, cross-fitted training matrix, classifier, and the featurizer learned on all of `train`."""
    from threadpoolctl import threadpool_limits

    length_model = Featurizer.fit_length_model([(p.bn, p.en) for p in train])
    x_tr, y_tr, n_examples = training_matrix(train, length_model, seed, folds, design)
    model = design.classifier(seed)
    with threadpool_limits(1):  # deterministic and fast on shared cores (OpenMP threads thrash)
        model.fit(x_tr, y_tr)
    return model, design.featurizer([(p.bn, p.en) for p in train], length_model), n_examples


def _heldout_scores(model, feat: Featurizer, held: Sequence[TrustedPair], seed: int) -> tuple[np.ndarray, np.ndarray]:
    from threadpoolctl import threadpool_limits

    ho = heldout_examples(held, seed)
    with threadpool_limits(1):
        scores = model.predict_proba(feat.transform([b for b, _, _ in ho], [e for _, e, _ in ho]))[:, 1]
    return scores, np.array([k for _, _, k in ho])


def fit_scorer(pairs: Sequence[TrustedPair], seed: int = 13, false_reject: float = 0.01,
               heldout_share: float = 0.15, folds: int = 3,
               heldout_fold: int = 0, widen: Sequence[TrustedPair] = (), widen_min: float = 0.5,
               design: Design = DESIGN) -> AdequacyScorer:
    """Learn lexicon, length model and classifier on trusted documents; pick the threshold on documents the
    model did not learn from (one held-out slice, or every document in turn: `design.threshold_folds`).
    `widen`: pairs of unknown quality from other domains; a first scorer fit on `pairs` alone (one held-out
    slice: it only has to tell good from bad) keeps those it gives P ≥ `widen_min`, and the final scorer
    learns from `pairs` + those (a wider lexicon, and held-out documents from more domains for the threshold)."""
    from dataclasses import replace

    if widen:
        first = fit_scorer(pairs, seed, false_reject, heldout_share, folds, heldout_fold,
                           design=replace(design, threshold_folds=1))
        scores = first.score([p.bn for p in widen], [p.en for p in widen])
        kept = [p for p, v in zip(widen, scores) if v >= widen_min]
        scorer = fit_scorer(list(pairs) + kept, seed, false_reject, heldout_share, folds, heldout_fold,
                            design=design)
        by_source: dict[str, int] = {}
        for q in kept:
            by_source[q.doc.rsplit(":", 1)[0]] = by_source.get(q.doc.rsplit(":", 1)[0], 0) + 1
        scorer.report["widened"] = {"offered": len(widen), "kept": len(kept), "min_score": widen_min,
                                    "kept_by_source": by_source,
                                    "first_scorer_heldout": first.report["heldout"]}
        return scorer
    if design.threshold_folds > 1:
        fold_of = document_folds(pairs, seed, design.threshold_folds)
        splits = [([p for p in pairs if fold_of[p.doc] != f], [p for p in pairs if fold_of[p.doc] == f])
                  for f in range(design.threshold_folds)]
    else:
        splits = [split_documents(pairs, seed, heldout_share, heldout_fold)]
    held_all = [p for _, held in splits for p in held]
    if min(len(t) for t, _ in splits) < 50 or len(held_all) < 20:
        raise ValueError(f"adequacy: {len(pairs)} trusted pairs are too few to learn from (need a few hundred)")
    parts = []
    for train, held in splits:
        if not held:  # fewer documents than folds
            continue
        model, feat, n_examples = _train(train, seed, folds, design)
        parts.append(_heldout_scores(model, feat, held, seed))
    if design.threshold_folds > 1:  # every document was held out once: now learn from all of them
        train = list(pairs)
        model, feat, n_examples = _train(train, seed, folds, design)
    threshold, metrics = heldout_metrics(np.concatenate([s for s, _ in parts]), np.concatenate([k for _, k in parts]),
                                         false_reject)
    report = {
        "features": list(design.features), "noise_kinds": list(design.kinds),
        "same_source_extra": design.same_source_extra, "monotonic": design.monotonic,
        "threshold_folds": design.threshold_folds,
        "classifier": f"sklearn HistGradientBoostingClassifier, {design.max_iter} iterations",
        "seed": seed, "false_reject_target": false_reject, "threshold": round(threshold, 6),
        "train": {"pairs": len(train), "documents": len({p.doc for p in train}), "examples": n_examples,
                  "lexicon_entries": len(feat.lexicon.table)},
        "heldout": {"pairs": len(held_all), "documents": len({p.doc for p in held_all}),
                    "examples": sum(len(k) for _, k in parts), **metrics},
    }
    return AdequacyScorer(feat, model, threshold, report)
