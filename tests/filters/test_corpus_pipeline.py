"""The filter Pipeline on real sample pairs with planted bad rows: reasons, accounting, rejects,
recipe validation before work, num_proc independence, the filter command."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from bilingual.filters.pipeline import Pipeline, RecipeError, load_recipe
from bilingual.sources.corpora import readers as corpora

from _corpus_helpers import pair

REPO = Path(__file__).resolve().parents[2]

RECIPE = {
    "name": "test",
    "batch_size": 100,
    "steps": [
        {"step": "normalize"},
        {"step": "pii"},
        {"step": "junk", "max_chars": 400},
        {"step": "length", "unit": "word", "max_bn": 80, "max_en": 80},
        {"step": "length_ratio", "threshold": 3.0},
        {"step": "script"},
        {"step": "numbers"},
        {"step": "langid", "threshold_bn": 0.3, "threshold_en": 0.3},
        {"step": "exact_dedup", "keys": ["pair", "bn"]},
        {"step": "near_dedup", "threshold": 0.7, "num_perm": 64},
        {"step": "perplexity", "quantile": 0.995},
    ],
}

TICO_SENT = ("করোনাভাইরাসের সাধারণ লক্ষণগুলির মধ্যে রয়েছে জ্বর, শুকনো কাশি এবং ক্লান্তি বোধ করা।",
             "The most common symptoms of the coronavirus include fever, dry cough and tiredness.")
PLANTED = [  # (bn, en, expected step, expected reason)
    ("   \u200b ", "Hello there, how are you?", "normalize", "empty_bn"),
    ("<p>আমি বাড়ি যাচ্ছি।</p>", "I am going home.", "junk", "html_bn"),
    ("আমি বাড়ি যাচ্ছি।".encode("utf-8").decode("latin-1"), "I am going home.", "junk", "mojibake_bn"),
    ("আমি " * 150, "I " * 150, "junk", "very_long_bn"),
    ("হ্যাঁ।", "Yes, I think that this is a very long English sentence for a short Bengali word.", "length_ratio",
     "length_ratio"),
    ("This is English, not Bengali at all here.", "This is English, not Bengali at all here.", "script", "script_bn"),
    ("তিনি ১৯৭১ সালে জন্মগ্রহণ করেন।", "He was born in 1972.", "numbers", "number_mismatch"),
    ("আমি তোমাকে ভালোবাসি।", "Ich liebe dich sehr, mein Freund.", "langid", "wrong_lang_en"),
    (TICO_SENT[0], TICO_SENT[1], None, None),  # kept: first occurrence
    (TICO_SENT[0], TICO_SENT[1], "exact_dedup", "duplicate_pair"),
    (TICO_SENT[0], "The commonest symptoms of coronavirus are fever, dry cough and tiredness.", "exact_dedup",
     "duplicate_bn"),
    (TICO_SENT[0].replace("জ্বর", "জ্বর ও মাথাব্যথা"), TICO_SENT[1].replace("fever", "fever and headache"),
     "near_dedup", "near_duplicate"),
]


@pytest.fixture(scope="module")
def rows(samples):
    real = list(itertools.islice(corpora.read_tsv(samples / "parallel" / "tatoeba-ben-eng.tsv"), 300, 700))
    real += list(itertools.islice(corpora.read_tmx(samples / "parallel" / "tico19-all.en-bn.tmx"), 400))
    out = [dict(r, provenance=json.dumps(r["provenance"])) for r in real]
    for i, (bn, en, _, _) in enumerate(PLANTED):
        out.append(pair(bn, en, i, source="planted"))
    return out


@pytest.fixture(scope="module")
def result(rows, tmp_path_factory):
    ds = Dataset.from_list(rows)
    return Pipeline.from_recipe(RECIPE, artifacts_dir=tmp_path_factory.mktemp("art")).run(ds)


def test_every_row_is_kept_or_rejected_with_its_reason(rows, result):
    stats = result.stats
    assert stats["in"] == len(rows) == stats["kept"] + stats["rejected"]
    assert len(result.kept) + len(result.rejects) == len(rows)
    # chained: each step's `in` is the previous step's `kept`
    for a, b in zip(stats["steps"], stats["steps"][1:]):
        assert b["in"] == a["kept"]
        assert a["dropped"] == sum(a["reasons"].values())
    rej = {r["id"]: (r["reject_step"], r["reject_reason"]) for r in result.rejects}
    kept_ids = set(result.kept["id"])
    for i, (bn, en, step, reason) in enumerate(PLANTED):
        if step is None:
            assert f"r{i}" in kept_ids, f"planted row {i} should be kept"
        else:
            assert rej.get(f"r{i}") == (step, reason), f"planted row {i}: {bn[:30]!r}"
    # rejected rows keep their original fields
    r = next(x for x in result.rejects if x["id"] == "r1")
    assert r["bn"] == "<p>আমি বাড়ি যাচ্ছি।</p>" and r["source"] == "planted" and r["license"] == "CC0 1.0"
    # no internal columns leak
    assert not [c for c in result.kept.column_names if c.startswith("_")]
    assert {"lid_bn_prob", "script_bn", "ppl_en", "length_ratio"} <= set(result.kept.column_names)


def test_stats_have_timings_and_pii_counts(rows, tmp_path):
    extra = rows + [pair("আমাকে ইমেল করুন rahim@example.com ঠিকানায়।", "Email me at rahim@example.com please.", 99)]
    res = Pipeline.from_recipe({"steps": [{"step": "normalize"}, {"step": "pii"}]}).run(Dataset.from_list(extra))
    pii = res.stats["steps"][1]
    assert pii["counts"] == {"email": 2}
    assert all(s["seconds"] >= 0 for s in res.stats["steps"])
    row = next(r for r in res.kept if r["id"] == "r99")
    assert "<EMAIL>" in row["bn"] and "<EMAIL>" in row["en"] and row["pii_count"] == 2


def test_num_proc_does_not_change_decisions(rows, result, tmp_path):
    res2 = Pipeline.from_recipe(RECIPE, num_proc=2, artifacts_dir=tmp_path).run(Dataset.from_list(rows))
    assert res2.kept["id"] == result.kept["id"]
    assert res2.rejects["reject_reason"] == result.rejects["reject_reason"]


@pytest.mark.parametrize("recipe, message", [
    ({"steps": [{"step": "normalize"}, {"step": "langid_typo"}]}, "step 2 'langid_typo': unknown step"),
    ({"steps": [{"step": "length_ratio", "treshold": 2}]}, "step 1 'length_ratio': parameter 'treshold'"),
    ({"steps": [{"step": "near_dedup", "threshold": "high"}]}, "parameter 'threshold'"),
    ({"steps": [{"step": "exact_dedup", "keys": ["pair", "url"]}]}, "parameter 'keys.1'"),
    ({"steps": []}, "no steps"),
    ({"steps": [{"step": "pii"}, {"step": "pii"}]}, "duplicate step name"),
])
def test_recipe_errors_name_the_step_and_parameter(recipe, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    assert message in str(err.value)


def test_bundled_recipes_validate():
    for path in sorted((REPO / "recipes" / "filters").glob("*.yaml")):
        head, steps = load_recipe(path)
        assert steps, path


def test_filter_command_writes_kept_rejects_stats(tmp_path, samples):
    out = tmp_path / "out"
    tsv = tmp_path / "mini.tsv"
    lines = (samples / "parallel" / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()[1000:1300]
    tsv.write_text("\n".join(lines + lines[:20]) + "\n", encoding="utf-8")  # 20 exact duplicates planted
    cmd = [sys.executable, str(REPO / "scripts" / "filter.py"), "--recipe", str(REPO / "recipes/filters/default.yaml"),
           "--input", str(tsv), "--output-dir", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["in"] == 320 and stats["kept"] + stats["rejected"] == 320
    kept = sum(pq.read_metadata(p).num_rows for p in out.glob("kept-*.parquet"))
    rejects = pq.read_table(next((out / "rejects").glob("rejects-*.parquet")))
    assert kept == stats["kept"] and rejects.num_rows == stats["rejected"]
    assert rejects.column("reject_reason").to_pylist().count("duplicate_pair") >= 20
    # --quiet: the end-of-command summary (with the kept count) stays, the per-step funnel table goes
    assert "filter funnel" not in proc.stdout and f"{stats['kept']:,}" in proc.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - step: length\n    max_bnn: 3\n")
    proc = subprocess.run(cmd[:2] + ["--recipe", str(bad)] + cmd[4:], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "step 1 'length': parameter 'max_bnn'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_chunked_run_files_matches_one_pass(rows, tmp_path):
    """Streaming a Parquet input in small chunks (global dedup state carried across chunks) gives
    exactly the decisions of one pass over everything."""
    import pyarrow as pa

    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows + rows[:50]), src)  # 50 cross-chunk exact duplicates
    recipe = dict(RECIPE, steps=[s for s in RECIPE["steps"] if s["step"] != "perplexity"])
    one = Pipeline.from_recipe(recipe).run_files([src], tmp_path / "one", chunk_rows=10_000)
    many = Pipeline.from_recipe(recipe).run_files([src], tmp_path / "many", chunk_rows=97)
    assert many["chunks"] > 5 and one["chunks"] == 1
    assert one["steps"] == [dict(s, seconds=o["seconds"]) for s, o in zip(many["steps"], one["steps"])]

    def ids(folder, pattern):
        return [i for f in sorted(folder.glob(pattern)) for i in pq.read_table(f).column("id").to_pylist()]

    assert ids(tmp_path / "one", "kept-*.parquet") == ids(tmp_path / "many", "kept-*.parquet")
    assert ids(tmp_path / "one" / "rejects", "*.parquet") == ids(tmp_path / "many" / "rejects", "*.parquet")
    assert one["steps"][-2]["reasons"].get("duplicate_pair", 0) >= 40  # copies of rows not rejected earlier
