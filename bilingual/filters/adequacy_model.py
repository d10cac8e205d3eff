"""A bilingual adequacy scorer the project trains itself: is `en` a translation of `bn`?

Why our own: multilingual sentence embeddings (LaBSE, LASER) cannot be downloaded here, and the
heuristic filters (length ratio, script, language ID) pass most misaligned pairs. As in Bicleaner,
a small classifier learns from trusted parallel pairs against noise synthesized from the same pairs:
  negatives  random pair (another document), neighbour (the next sentence of the same document),
             truncated side, an extra sentence appended, untranslated copy, one number changed;
  features   lexical translation coverage in both directions (a Dice lexicon learned on the trusted
             pairs, the one bilingual.mining.align learns) overall and on each half of the sentence,
             IBM Model 1 translation probabilities in both directions (learned on the same pairs),
             transliterated names, number agreement (bilingual.filters.steps.numbers), a learned
             length model, sentence and punctuation counts, LID probabilities, verbatim copies;
  model      scikit-learn's HistGradientBoostingClassifier, seeded;
  threshold  the score that rejects `false_reject` of held-out trusted pairs (documents the model
             did not train on).
Everything is deterministic for a given seed and trusted set. The fitted scorer is a folder:
`model.joblib` (the classifier; load only folders you made), `lexicon.json.gz`, `ibm1.json.gz`, `scorer.json`
(length model, threshold, fingerprint) and `report.json` (features, sizes, held-out metrics).
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
from bilingual.mining.lexicon import Lexicon, bn_stem, bn_tokens, en_stem, en_tokens
from bilingual.mining.transliterate import bn_skeleton, en_skeleton

FEATURES = (
    "cov_bn", "cov_en", "cov_min", "cov_bn_head", "cov_bn_tail", "cov_en_head", "cov_en_tail",
    "len_z", "len_abs_z", "log_chars_bn", "log_words_en", "sent_diff", "num_agreement", "num_hard_bn",
    "num_hard_en", "names_en", "question_diff", "quote_diff", "paren_diff", "lid_bn", "lid_en", "copied_en",
    "known_bn", "known_en", "cov_known_bn", "cov_known_en", "words_bn", "words_en",
    "ibm1_en_given_bn", "ibm1_bn_given_en", "ibm1_min",
)
LEXICON = {"min_count": 1, "min_dice": 0.2, "top": 8}  # rare words count: cross-fitting tells the classifier how much
SKEL_PREFIX = 4
NOISE_KINDS = ("random", "neighbour", "truncated", "extra_sentence", "untranslated", "number_changed")
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


def synthesize(pairs: Sequence[TrustedPair], seed: int) -> list[tuple[str, str, str]]:
    """(bn, en, kind) for each pair: the pair itself ("true") and one noisy pair of a kind drawn in
    turn (on the en side or the bn side by a coin), so that classes stay balanced."""
    rng = random.Random(seed)
    by_doc: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_doc.setdefault(p.doc, []).append(i)
    out: list[tuple[str, str, str]] = []
    n = len(pairs)
    for i, p in enumerate(pairs):
        out.append((p.bn, p.en, "true"))
        doc = by_doc[p.doc]
        pos = doc.index(i) if len(doc) < 400 else None
        for attempt in range(4):
            kind = NOISE_KINDS[(i + attempt) % len(NOISE_KINDS)]
            flip = rng.random() < 0.5  # corrupt the bn side instead of the en side
            noisy = None
            if kind == "random":
                j = rng.randrange(n)
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


class Featurizer:
    """Turns (bn, en) pairs into the FEATURES matrix with a lexicon learned on trusted pairs."""

    def __init__(self, lexicon: Lexicon, length_model: tuple[float, float, float] = (0.0, 1.0, 1.0),
                 probs: Optional[Probabilities] = None):
        self.lexicon = lexicon
        self.probs = probs or Probabilities({}, {})
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
        return [cb, ce, min(cb, ce), *halves(bn_hit), *halves(en_hit), names_hit, copied], extra

    def transform(self, bn: Sequence[str], en: Sequence[str], lid: Optional[tuple] = None) -> np.ndarray:
        """`lid`: (bn probabilities, en probabilities) of the expected language when a langid step
        already computed them; else fastText is run here."""
        a, b, sd = self.length_model
        lid_bn, lid_en = lid if lid is not None else (_lid(list(bn), "bn"), _lid(list(en), "en"))
        rows = []
        for k, (tb, te) in enumerate(zip(bn, en)):
            (cb, ce, cmin, bh, bt, eh, et, names, copied), extra = self._coverage(tb, te)
            z = (math.log1p(len(te)) - (a + b * math.log1p(len(tb)))) / sd
            if _DIGIT.search(tb) or _DIGIT.search(te):
                nb, ne = read_numbers(tb), read_numbers(te)
                hard_bn, hard_en = sum(nb.hard.values()), sum(ne.hard.values())
                agree = (_matched(nb, ne) + _matched(ne, nb)) / (hard_bn + hard_en) if hard_bn + hard_en else 1.0
            else:
                hard_bn = hard_en = 0
                agree = 1.0
            rows.append([
                cb, ce, cmin, bh, bt, eh, et, z, abs(z), math.log1p(len(tb)), math.log1p(len(te.split())),
                len(_SENT_END.findall(te)) - len(_SENT_END.findall(tb)), agree,
                hard_bn, hard_en, names,
                te.count("?") - tb.count("?"), _quotes(te) - _quotes(tb), te.count("(") - tb.count("("),
                lid_bn[k], lid_en[k], copied, *extra,
            ])
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURES))


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
        write_json(folder / "scorer.json", {"threshold": self.threshold, "length_model": list(self.featurizer.length_model),
                                            "features": list(FEATURES), "fingerprint": self.report.get("fingerprint")})
        return folder

    @classmethod
    def load(cls, folder) -> "AdequacyScorer":
        import joblib

        folder = Path(folder)
        meta = json.loads((folder / "scorer.json").read_text(encoding="utf-8"))
        if meta.get("features") != list(FEATURES):
            raise ValueError(f"{folder}: adequacy scorer made with other features; delete the folder to retrain it")
        feat = Featurizer(Lexicon.load(folder / "lexicon.json.gz"), tuple(meta["length_model"]),
                          Probabilities.load(folder / "ibm1.json.gz"))
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        return cls(feat, joblib.load(folder / "model.joblib"), float(meta["threshold"]), report)


def learn_lexicon(pairs: Iterable[tuple[str, str]]) -> Lexicon:
    """bilingual.mining.align's Dice lexicon, its ties broken by word (not by set order, which changes
    from process to process), so that a scorer is the same in every run."""
    top = LEXICON["top"]
    lex = Lexicon.learn(pairs, min_count=LEXICON["min_count"], min_dice=LEXICON["min_dice"], top=10 ** 9)
    return Lexicon({b: dict(sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))[:top]) for b, t in sorted(lex.table.items())})


SCORER_VERSION = 2  # bump when features, noise or training change: cached scorers are then retrained


def fingerprint(pairs: Sequence[TrustedPair], **params) -> str:
    """Names a scorer by its trusted data, parameters, features and SCORER_VERSION."""
    h = hashlib.sha256(json.dumps(dict(params, version=SCORER_VERSION, features=FEATURES, lexicon=LEXICON,
                                       skeleton_prefix=SKEL_PREFIX), sort_keys=True).encode())
    for p in pairs:
        h.update(f"{p.doc}\t{p.bn}\t{p.en}\n".encode())
    return h.hexdigest()[:16]


def fit_scorer(pairs: Sequence[TrustedPair], seed: int = 13, false_reject: float = 0.01,
               heldout_share: float = 0.15, max_iter: int = 200, folds: int = 3,
               heldout_fold: int = 0) -> AdequacyScorer:
    """Learn lexicon, length model and classifier on most documents; pick the threshold on the rest."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    docs = sorted({p.doc for p in pairs})
    rng = random.Random(seed)
    rng.shuffle(docs)
    held_docs = set()
    for source in sorted({d.rsplit(":", 1)[0] for d in docs}):  # a share of each source's documents
        mine = [d for d in docs if d.rsplit(":", 1)[0] == source]
        k = max(1, round(len(mine) * heldout_share))
        held_docs.update(mine[heldout_fold * k:(heldout_fold + 1) * k] if len(mine) > 1 else [])
    train = [p for p in pairs if p.doc not in held_docs]
    held = [p for p in pairs if p.doc in held_docs]
    if len(train) < 50 or len(held) < 20:
        raise ValueError(f"adequacy: {len(pairs)} trusted pairs are too few to learn from (need a few hundred)")
    length_model = Featurizer.fit_length_model([(p.bn, p.en) for p in train])
    # Cross-fitting: a training pair's features come from a lexicon learned on the OTHER folds, so that
    # the classifier sees the coverage of text the lexicon has not seen, as on new data.
    train_docs = sorted({p.doc for p in train})
    fold_of = {d: k % folds for k, d in enumerate(train_docs)}
    tr: list[tuple[str, str, str]] = []
    x_parts = []
    for f in range(folds):
        inside = [p for p in train if fold_of[p.doc] == f]
        others = [(p.bn, p.en) for p in train if fold_of[p.doc] != f]
        feat_f = Featurizer(learn_lexicon(others), length_model, Probabilities.learn(others))
        syn = synthesize(inside, seed + 10 + f)
        x_parts.append(feat_f.transform([b for b, _, _ in syn], [e for _, e, _ in syn]))
        tr += syn
    x_tr = np.concatenate(x_parts)
    y_tr = np.array([k == "true" for _, _, k in tr], dtype=np.int8)
    lexicon = learn_lexicon((p.bn, p.en) for p in train)
    feat = Featurizer(lexicon, length_model, Probabilities.learn((p.bn, p.en) for p in train))
    ho = synthesize(held, seed + 1)
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.1, max_leaf_nodes=31,
                                           l2_regularization=1.0, random_state=seed)
    with threadpool_limits(1):  # deterministic and fast on shared cores (OpenMP threads thrash)
        model.fit(x_tr, y_tr)
    x_ho = feat.transform([b for b, _, _ in ho], [e for _, e, _ in ho])
    kinds = np.array([k for _, _, k in ho])
    with threadpool_limits(1):
        s_ho = model.predict_proba(x_ho)[:, 1]
    true_scores = s_ho[kinds == "true"]
    threshold = float(np.quantile(true_scores, false_reject))
    caught = {k: round(float((s_ho[kinds == k] < threshold).mean()), 4) for k in NOISE_KINDS if (kinds == k).any()}
    report = {
        "features": list(FEATURES), "classifier": "sklearn HistGradientBoostingClassifier",
        "seed": seed, "false_reject_target": false_reject, "threshold": round(threshold, 6),
        "train": {"pairs": len(train), "documents": len(docs) - len(held_docs), "examples": len(tr),
                  "lexicon_entries": len(lexicon.table)},
        "heldout": {"pairs": len(held), "documents": len(held_docs), "examples": len(ho),
                    "false_reject": round(float((true_scores < threshold).mean()), 4),
                    "caught": caught, "auc": round(float(roc_auc_score(kinds == "true", s_ho)), 4)},
    }
    return AdequacyScorer(feat, model, threshold, report)
