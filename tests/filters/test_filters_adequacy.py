"""The `adequacy` step, trained for real on bundled trusted pairs: it separates real translations
from misaligned ones it never saw, saves itself with its report, is reused on rerun, is
deterministic, and never trains on the evaluation sets."""

import json
import random

import pytest
from datasets import Dataset

from bilingual.filters.adequacy_model import FEATURES, NOISE_KINDS, AdequacyScorer, fit_scorer, read_trusted
from bilingual.filters.pipeline import Pipeline
from bilingual.filters.steps.adequacy import AdequacyParams, trusted_pairs
from bilingual.layout import PARALLEL_SAMPLES
from bilingual.mining.align import benchmark_split, tico_documents
from bilingual.sources.corpora.readers import read_aligned

NT = PARALLEL_SAMPLES / "ntrex128"


def ntrex():
    return [(r["bn"], r["en"]) for r in read_aligned(NT / "newstest2019-ref.ben.txt", NT / "newstest2019-src.eng.txt",
                                                     "ntrex", "CC BY-SA 4.0")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default recipe's adequacy step run once over NTREX pairs (never trusted) and misaligned ones."""
    art = tmp_path_factory.mktemp("adequacy") / "artifacts"
    pairs = ntrex()
    rng = random.Random(5)
    sample = rng.sample(range(len(pairs)), 400)
    true = [pairs[i] for i in sample]
    far = [(pairs[i][0], pairs[(i + len(pairs) // 2) % len(pairs)][1]) for i in sample]
    ds = Dataset.from_dict({"bn": [b for b, _ in true + far], "en": [e for _, e in true + far],
                            "label": [1] * len(true) + [0] * len(far)})
    pipe = Pipeline.from_recipe({"steps": [{"step": "adequacy"}]}, artifacts_dir=art)
    return art, ds, pipe.run(ds)


def test_default_trusted_set_excludes_the_evaluation_sets():
    pairs = trusted_pairs(AdequacyParams())
    en = {p.en for p in pairs}
    assert not en & {e for _, e in ntrex()}
    held = benchmark_split(tico_documents(PARALLEL_SAMPLES / "tico19-all.en-bn.tmx"))
    assert held and not {p.doc for p in pairs} & {f"tico:{d}" for d in held}
    assert len(pairs) > 5000
    from bilingual.filters.steps.adequacy import widening_pairs

    widen = {p.en for p in widening_pairs(AdequacyParams())}
    opus_test = set((PARALLEL_SAMPLES / "opus100" / "opus100.en-bn-test.en").read_text(encoding="utf-8").splitlines())
    assert len(widen) > 1000 and not widen & {e for _, e in ntrex()} and not widen & (opus_test - {""})
    assert widening_pairs(AdequacyParams(trusted=["x.tsv"])) == []  # a user's own trusted set is not widened


def test_widening_keeps_translations_and_drops_misaligned_pairs(tmp_path):
    """Noisy pairs join the trusted set only where a first scorer accepts them."""
    from bilingual.filters.adequacy_model import TrustedPair

    rows = [line.split("\t") for line in (PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()]
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("\n".join("\t".join(r) for r in rows[:1500]) + "\n", encoding="utf-8")
    good = [TrustedPair(bn, en, f"good:{k // 50}") for k, (en, bn, *_) in enumerate(rows[1500:1800])]
    bad = [TrustedPair(a.bn, b.en, f"bad:{k // 50}") for k, (a, b) in enumerate(zip(good, good[7:] + good[:7]))]
    scorer = fit_scorer(read_trusted([str(tsv)]), seed=3, widen=good + bad)
    w = scorer.report["widened"]
    assert w["offered"] == len(good) + len(bad) and w["kept"] == sum(w["kept_by_source"].values())
    # a first scorer from 1,500 short sentences is weak: most translations in, most misaligned pairs out
    assert w["kept_by_source"].get("good", 0) >= 0.6 * len(good), w
    assert w["kept_by_source"].get("bad", 0) <= 0.25 * len(bad), w


def test_separates_translations_from_other_articles_it_never_saw(trained):
    _, ds, result = trained
    scored = result.scored
    labels, scores, steps = scored["label"], scored["adequacy"], scored["_drop_step"]
    kept_true = sum(1 for l, s in zip(labels, steps) if l == 1 and s is None) / labels.count(1)
    caught_far = sum(1 for l, s in zip(labels, steps) if l == 0 and s == "adequacy") / labels.count(0)
    assert kept_true >= 0.95 and caught_far >= 0.8, (kept_true, caught_far)
    assert set(result.rejects["reject_reason"]) == {"low_adequacy"}
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert result.stats["in"] == result.stats["kept"] + result.stats["rejected"]


def test_scorer_is_saved_with_its_report_and_reused(trained):
    art, ds, result = trained
    folder = art / "adequacy"
    assert {p.name for p in folder.iterdir()} >= {"model.joblib", "lexicon.json.gz", "ibm1.json.gz", "scorer.json",
                                                 "report.json"}
    report = json.loads((folder / "report.json").read_text())
    assert report["features"] == list(FEATURES)
    assert report["train"]["pairs"] > 4000 and report["heldout"]["pairs"] > 300
    assert set(report["heldout"]["caught"]) == set(NOISE_KINDS)
    assert report["heldout"]["false_reject"] <= 0.02 and report["heldout"]["auc"] > 0.9
    stamp = (folder / "model.joblib").stat().st_mtime_ns
    again = Pipeline.from_recipe({"steps": [{"step": "adequacy"}]}, artifacts_dir=art).run(ds)
    assert (folder / "model.joblib").stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.scored["adequacy"] == result.scored["adequacy"]
    loaded = AdequacyScorer.load(folder)
    assert loaded.threshold == pytest.approx(report["threshold"], abs=1e-6)


def test_user_trusted_file_training_is_deterministic(tmp_path):
    lines = (PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()[:1500]
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_trusted([str(tsv)])
    assert len(pairs) > 1000
    a, b = fit_scorer(pairs, seed=3), fit_scorer(pairs, seed=3)
    test = [("আমি বাড়ি যাচ্ছি।", "I am going home."), ("আমি বাড়ি যাচ্ছি।", "The weather is nice today.")]
    sa, sb = a.score([x for x, _ in test], [y for _, y in test]), b.score([x for x, _ in test], [y for _, y in test])
    assert sa.tolist() == sb.tolist() and a.threshold == b.threshold
    assert sa[0] > sa[1]


def test_bad_trusted_file_names_file_and_fix(tmp_path):
    bad = tmp_path / "pairs.csv"
    bad.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs\.csv: trusted pairs must be a \.tsv, a \.tmx or"):
        read_trusted([str(bad)])


def test_same_scorer_in_every_process(tmp_path):
    """Python's string hashing differs per process (set order); the scorer's lexicon and threshold must not."""
    import os
    import subprocess
    import sys

    lines = (PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = ("import sys, json; from bilingual.filters.adequacy_model import fit_scorer, read_trusted; "
            "s = fit_scorer(read_trusted([sys.argv[1]]), seed=3); "
            "print(repr(s.threshold), json.dumps(s.featurizer.lexicon.table, sort_keys=True, ensure_ascii=False))")
    outs = set()
    for hash_seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run([sys.executable, "-c", code, str(tsv)], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.add(proc.stdout)
    assert len(outs) == 1


def test_ibm1_learns_translations_from_real_pairs():
    from bilingual.filters.adequacy_model import Probabilities
    from bilingual.sources.corpora.readers import read_tsv

    pairs = [(r["bn"], r["en"]) for r in read_tsv(PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv")]
    probs = Probabilities.learn(pairs)
    best = {b: max(t, key=t.get) for b, t in probs.en_given_bn.items()}
    assert best["বই"] == "book" and best["জল"] == "water"
    assert all(abs(sum(t.values()) - 1) < 0.5 for t in list(probs.en_given_bn.values())[:50])


def test_same_source_negatives_pair_sentences_of_one_domain():
    """`other_document` noise: a sentence of another document of the SAME source (a misaligned news or medical
    pair looks like that), unlike `random`, which mostly pairs a medical sentence with a Tatoeba one."""
    from bilingual.filters.adequacy_model import synthesize

    pairs = trusted_pairs(AdequacyParams())
    docs_of = {}
    for p in pairs:
        docs_of.setdefault(p.bn, set()).add(p.doc)
        docs_of.setdefault(p.en, set()).add(p.doc)
    noisy = [(b, e) for b, e, k in synthesize(pairs, seed=7, kinds=("other_document",)) if k == "other_document"]
    assert len(noisy) > 0.9 * len(pairs)
    for bn, en in noisy:
        pairs_of_both = {(d1, d2) for d1 in docs_of[bn] for d2 in docs_of[en]}
        assert any(d1 != d2 and d1.rsplit(":", 1)[0] == d2.rsplit(":", 1)[0] for d1, d2 in pairs_of_both), (bn, en)


def test_design_is_part_of_the_fingerprint():
    """A cached scorer of another design (features, noise kinds) is never reused."""
    from bilingual.filters.adequacy_model import ALL_FEATURES, DESIGN, Design, fingerprint

    pairs = trusted_pairs(AdequacyParams())[:100]
    base = fingerprint(pairs, seed=13)
    assert base == fingerprint(pairs, DESIGN, seed=13)
    assert base != fingerprint(pairs, Design(kinds=tuple(k for k in NOISE_KINDS if k != "other_document")), seed=13)
    assert base != fingerprint(pairs, Design(features=ALL_FEATURES), seed=13)


def test_a_design_with_candidate_features_saves_and_loads_the_same(tmp_path):
    """A scorer of another design keeps its feature columns (and idf table) across save/load."""
    from bilingual.filters.adequacy_model import ALL_FEATURES, Design

    lines = (PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()[:1500]
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scorer = fit_scorer(read_trusted([str(tsv)]), seed=3, design=Design(features=ALL_FEATURES))
    scorer.save(tmp_path / "scorer")
    loaded = AdequacyScorer.load(tmp_path / "scorer")
    assert (tmp_path / "scorer" / "idf.json").exists() and loaded.featurizer.features == ALL_FEATURES
    test = [("আমি বাড়ি যাচ্ছি।", "I am going home."), ("আমি বাড়ি যাচ্ছি।", "The weather is nice today.")]
    bn, en = [b for b, _ in test], [e for _, e in test]
    assert loaded.score(bn, en).tolist() == scorer.score(bn, en).tolist()
    assert scorer.report["features"] == list(ALL_FEATURES)


def test_summary_names_the_output_artifacts_not_the_work_folder(trained, tmp_path, capsys):
    """filter writes into a work folder renamed when done; the scorer's summary must not print that path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, ds, _ = trained  # the scorer is in the cache now: this run only copies it
    rows = [{"id": str(i), "bn": b, "en": e, "source": "t", "provenance": "{}", "score": None, "license": "x"}
            for i, (b, e) in enumerate(zip(ds["bn"][:50], ds["en"][:50]))]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    Pipeline.from_recipe({"steps": [{"step": "adequacy"}]}).run_files([tmp_path / "in.parquet"], tmp_path / "out")
    printed = capsys.readouterr().out
    assert "artifacts/adequacy/ of this run's output" in printed and ".work-" not in printed
    assert (tmp_path / "out" / "artifacts" / "adequacy" / "scorer.json").exists()


def test_threshold_comes_from_every_document_and_the_kept_model_from_all(tmp_path):
    """Each trusted document is held out once (5 folds within each source) and scored by a model that did not
    train on it; the threshold comes from all those scores and the scorer kept learns from every document.
    A source of a single document is never held out."""
    from collections import Counter

    from bilingual.filters.adequacy_model import Design, TrustedPair, document_folds, learn_lexicon

    lines = (PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()[:1560]
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("\n".join(lines[:1500]) + "\n", encoding="utf-8")
    solo = [TrustedPair(bn, en, "solo:0") for en, bn, *_ in (line.split("\t") for line in lines[1500:])]
    pairs = read_trusted([str(tsv)]) + solo
    folds = document_folds(pairs, 3, 5)
    assert folds["solo:0"] == -1
    sizes = Counter(f for d, f in folds.items() if d != "solo:0")
    assert set(sizes) == set(range(5)) and max(sizes.values()) - min(sizes.values()) <= 1
    scorer = fit_scorer(pairs, seed=3)
    assert scorer.report["threshold_folds"] == 5
    assert scorer.report["heldout"]["pairs"] == len(pairs) - len(solo)
    assert scorer.report["train"]["pairs"] == len(pairs)
    assert scorer.featurizer.lexicon.table == learn_lexicon([(p.bn, p.en) for p in pairs]).table
    one = fit_scorer(pairs, seed=3, design=Design(threshold_folds=1))  # the previous procedure: one slice
    assert one.report["heldout"]["pairs"] < 0.25 * len(pairs) and one.report["train"]["pairs"] < len(pairs)
    few = [TrustedPair(p.bn, p.en, f"few:{k // 300}") for k, p in enumerate(pairs[:900])]  # 3 documents, 5 folds
    assert fit_scorer(few, seed=3).report["heldout"]["pairs"] == len(few)
