"""Row-local quality steps after the split (length, script, junk) and the `perplexity` step, whose
limit is learned on trusted text and stored with the model: clean data passes whole, garbage does
not, and decisions do not depend on chunking."""

import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from bilingual.filters.pipeline import REGISTRY, Pipeline, load_steps
from bilingual.filters.steps.perplexity import CharNgramLM
from bilingual.layout import PARALLEL_SAMPLES
from bilingual.mining.align import benchmark_split, tico_documents


def clean_pairs(n=600):
    """Held-out TICO-19 documents: real, clean, and not part of the trusted training text."""
    docs = tico_documents(PARALLEL_SAMPLES / "tico19-all.en-bn.tmx")
    return [p for d in benchmark_split(docs) for p in docs[d]][:n]


def garbage(pairs, seed=3):
    rng = random.Random(seed)
    out = []
    for bn, en in pairs:
        out.append(("".join(rng.sample(bn, len(bn))), en))  # characters shuffled
        out.append((bn, " ".join(w[::-1] for w in en.split()).swapcase() + " qxz zzv kkq"))  # reversed words
    return out


def dataset(pairs):
    return Dataset.from_dict({"id": [str(i) for i in range(len(pairs))], "bn": [b for b, _ in pairs],
                              "en": [e for _, e in pairs]})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    art = tmp_path_factory.mktemp("ppl") / "artifacts"
    clean = clean_pairs()
    bad = garbage(clean[:100])
    result = Pipeline.from_recipe({"steps": [{"step": "perplexity"}]}, artifacts_dir=art).run(dataset(clean + bad))
    return art, clean, bad, result


def test_steps_are_one_per_file_and_registered():
    load_steps()
    for name, module in [("length", "length"), ("length_ratio", "length"), ("script", "script"), ("junk", "junk"),
                         ("numbers", "numbers"), ("adequacy", "adequacy"), ("perplexity", "perplexity")]:
        assert REGISTRY[name].fn.__module__ == f"bilingual.filters.steps.{module}"


def test_clean_data_passes_whole_and_garbage_is_rejected(run):
    _, clean, bad, result = run
    steps = result.scored["_drop_step"]
    assert all(s is None for s in steps[:len(clean)])  # a quantile of the input would drop some of these
    caught = [s == "perplexity" for s in steps[len(clean):]]
    assert sum(caught) / len(caught) >= 0.95
    assert set(result.rejects["reject_reason"]) <= {"high_perplexity_bn", "high_perplexity_en"}


def test_limit_is_stored_with_the_model_and_reused(run, tmp_path):
    art, clean, bad, result = run
    paths = {side: str(art / f"charlm-{side}.npz") for side in ("bn", "en")}
    for p in paths.values():
        lm = CharNgramLM.load(p)
        assert lm.limit is not None and np.isfinite(lm.limit)
    again = Pipeline.from_recipe({"steps": [{"step": "perplexity", "models": paths}]}).run(dataset(clean + bad))
    assert again.scored["_drop_step"] == result.scored["_drop_step"]


def test_decisions_do_not_depend_on_chunking(run, tmp_path):
    _, clean, bad, _ = run
    rows = [{"id": str(i), "bn": b, "en": e, "source": "t", "provenance": "{}", "score": None, "license": "x"}
            for i, (b, e) in enumerate(clean + bad)]
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    recipe = {"steps": [{"step": "perplexity"}]}
    one = Pipeline.from_recipe(recipe).run_files([src], tmp_path / "one", chunk_rows=10_000, quiet=True)
    many = Pipeline.from_recipe(recipe).run_files([src], tmp_path / "many", chunk_rows=53, quiet=True)
    assert many["chunks"] > 5
    assert one["steps"][0]["reasons"] == many["steps"][0]["reasons"] and one["kept"] == many["kept"]

    def ids(folder):
        return [i for f in sorted(folder.glob("kept-*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]

    assert ids(tmp_path / "one") == ids(tmp_path / "many")


@pytest.mark.parametrize("bn,en,reason", [
    ("<p>আমি বাড়ি যাচ্ছি।</p>", "I am going home.", "html_bn"),
    ("কোম্পানিটি CBS, ABC, NBC, CNN, ফক্স নিউজ চ্যানেল এবং MSNBC এর দর্শকদের গড় হিসাব করছিল।",
     "The company was counting average viewership on CBS, ABC, NBC, CNN, Fox News Channel and MSNBC.", None),
    ("This is English, not Bengali at all here.", "This is English, not Bengali at all here.", "script_bn"),
])
def test_default_recipe_script_and_junk(bn, en, reason):
    """The default recipe's script share (0.5 on the bn side) keeps Bengali news with Latin acronyms."""
    import yaml

    from bilingual.layout import DEFAULT_FILTER_RECIPE

    steps = [s for s in yaml.safe_load(DEFAULT_FILTER_RECIPE.read_text())["steps"] if s["step"] in ("junk", "script")]
    result = Pipeline.from_recipe({"steps": steps}).run(dataset([(bn, en)]))
    assert (result.rejects["reject_reason"] or [None])[0] == reason


def test_default_recipe_does_not_read_pii_placeholders_as_html():
    """pii writes <PHONE>/<EMAIL>; junk runs before it, so a pair with a phone number is not rejected as HTML."""
    import yaml

    from bilingual.layout import DEFAULT_FILTER_RECIPE

    steps = [s for s in yaml.safe_load(DEFAULT_FILTER_RECIPE.read_text())["steps"] if s["step"] in ("junk", "pii")]
    pair = ("তথ্য থাকলে ০১৭১ ২৩৪ ৫৬৭৮ নম্বরে বা help@example.org ঠিকানায় যোগাযোগ করুন।",
            "Anyone with information should call 0171 234 5678 or write to help@example.org.")
    result = Pipeline.from_recipe({"steps": steps}).run(dataset([pair]))
    assert result.stats["rejected"] == 0, result.rejects["reject_reason"]
    assert "<PHONE>" in result.kept["en"][0] and "<EMAIL>" in result.kept["en"][0]


def test_html_character_references_are_text_not_markup():
    """TICO-19's TMX escapes twice ("S&amp;amp;P 500" in the file), so its English reads "S&amp;P 500";
    normalize decodes one level, and junk keeps the pair instead of rejecting it as HTML. An escaped tag
    becomes a tag, which junk then rejects; a bare ampersand stays as written."""
    import yaml

    from bilingual.filters.steps.normalize import normalize_text
    from bilingual.layout import DEFAULT_FILTER_RECIPE
    from bilingual.sources.corpora.readers import read_tmx

    escaped = [r for r in read_tmx(PARALLEL_SAMPLES / "tico19-all.en-bn.tmx") if "&amp;" in r["en"] or "&gt;" in r["en"]]
    assert escaped, "the bundled TICO-19 file has doubly escaped segments"
    steps = [s for s in yaml.safe_load(DEFAULT_FILTER_RECIPE.read_text())["steps"] if s["step"] in ("normalize", "junk")]
    result = Pipeline.from_recipe({"steps": steps}).run(dataset([(r["bn"], r["en"]) for r in escaped]
                                                                + [("&lt;b&gt;আমি&lt;/b&gt;", "I")]))
    assert result.rejects["reject_reason"] == ["html_bn"]
    assert not any("&amp;" in t or "&gt;" in t or "&lt;" in t for t in result.kept["en"])
    assert normalize_text("S&amp;P 500 &gt; 90% &#39;x&#x27;") == "S&P 500 > 90% 'x'"
    assert normalize_text("AT&T, R&D &copy2020 &bogus;") == "AT&T, R&D &copy2020 &bogus;"
    assert normalize_text("a&nbsp;b", html_entities=False) == "a&nbsp;b" and normalize_text("a&nbsp;b") == "a b"


def test_short_lines_are_judged_by_script_and_copies_stay_caught():
    """fastText misreads a few words ("Who?" as Italian); the default recipe's langid judges short sides by
    script instead, so Tatoeba's short true pairs pass, while their untranslated copies are still rejected."""
    import yaml

    from bilingual.layout import DEFAULT_FILTER_RECIPE
    from bilingual.sources.corpora.readers import read_tsv

    short = [(r["bn"], r["en"]) for r in read_tsv(PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv") if len(r["en"].split()) <= 2]
    lid = next(s for s in yaml.safe_load(DEFAULT_FILTER_RECIPE.read_text())["steps"] if s["step"] == "langid")
    plain = Pipeline.from_recipe({"steps": [dict(lid, short_words=0)]}).run(dataset(short))
    assert plain.stats["rejected"] > 10  # OpusFilter's rule
    assert Pipeline.from_recipe({"steps": [lid]}).run(dataset(short)).stats["rejected"] == 0
    copies = [(e, e) for _, e in short] + [(b, b) for b, _ in short]
    assert Pipeline.from_recipe({"steps": [lid]}).run(dataset(copies)).stats["kept"] == 0
