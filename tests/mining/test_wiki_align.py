"""Aligner on real TICO-19 documents made comparable, the align command, and mining linked articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilingual import storage
from bilingual.commands.align import main as align_main
from bilingual.commands.mine import main as mine_main
from bilingual.mining.align import (Aligner, Lexicon, evaluate, make_comparable, parallel_pairs, tico_documents)
from bilingual.mining.wikipedia import read_pairs
from bilingual.sources.wikipedia.dump import collect_dump
from _wiki_helpers import BN40, EN, OVERLAP, SAMPLES

HELD_OUT = ["Wikinews_1", "Wikinews_3", "wiki_11", "wiki_29", "Wikipedia_handpicked_7"]


@pytest.fixture(scope="module")
def tico():
    return tico_documents(SAMPLES / "parallel" / "tico19-all.en-bn.tmx")


@pytest.fixture(scope="module")
def lexicon(tico):
    # learned WITHOUT the documents evaluated below
    return Lexicon.learn(parallel_pairs(SAMPLES, exclude_docs=HELD_OUT))


def test_lexicon_excludes_held_out_documents(tico):
    pairs = set(parallel_pairs(SAMPLES, exclude_docs=HELD_OUT))
    held = {p for d in HELD_OUT for p in tico[d]}
    assert held and not (pairs & held)


def test_precision_on_comparable_tico_documents(tico, lexicon):
    cases = list(make_comparable({d: tico[d] for d in HELD_OUT}))
    gold = sum(len(g) for *_, g in cases)
    noise = sum(len(en) - len(g) for _, _, en, g in cases)
    assert gold > 80 and noise > 30
    result = evaluate(Aligner(lexicon), cases)
    assert result["precision"] >= 0.9 and result["recall"] >= 0.6, result


def test_n_to_m_link_and_command_output(tico, lexicon, tmp_path):
    doc = tico["wiki_29"]
    # bn sentence 2 holds what en says in sentences 2 and 3
    bn = [doc[2][0], doc[3][0], doc[4][0] + " " + doc[5][0], doc[6][0]]
    en = [doc[2][1], doc[3][1], doc[4][1], doc[5][1], doc[6][1]]
    links = Aligner(lexicon).align(bn, en)
    assert [(l.bn, l.en) for l in links] == [((0,), (0,)), ((1,), (1,)), ((2,), (2, 3)), ((3,), (4,))]
    lex_path = lexicon.save(tmp_path / "lex.json.gz")
    (tmp_path / "bn.txt").write_text("\n".join(bn) + "\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(en) + "\n", encoding="utf-8")
    out = tmp_path / "pairs.tsv"
    assert align_main(["--bn", str(tmp_path / "bn.txt"), "--en", str(tmp_path / "en.txt"), "--out", str(out),
                       "--lexicon", str(lex_path), "--quiet"]) == 0
    lines = out.read_text().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["0", "0"], ["1", "1"], ["2", "2,3"], ["3", "4"]]
    for line in lines:
        b, e, s = line.split("\t")
        assert all(x.isdigit() for x in b.split(",") + e.split(",")) and 0 < float(s) <= 1
    assert align_main(["--bn", str(tmp_path / "nope.txt"), "--en", str(tmp_path / "en.txt"), "--out", str(out)]) == 1


def test_mine_linked_articles(tmp_path, monkeypatch):
    monkeypatch.setenv("BILINGUAL_CACHE", str(tmp_path / "cache"))
    bn = collect_dump(BN40, "bn", tmp_path, day="2026-11-26")
    en = collect_dump(EN, "en", tmp_path, day="2026-11-26", processes=2)
    args = ["--bn-snapshot", bn["snapshot"], "--en-snapshot", en["snapshot"], "--links", str(OVERLAP),
            "--output-dir", str(tmp_path), "--date", "2026-11-26", "--redirects", str(EN), "--quiet"]
    assert mine_main(args) == 0
    assert list((tmp_path / "cache").glob("lexicon-*.json.gz"))  # the lexicon artifact was cached
    snap = tmp_path / "raw" / "2026-11-26" / "wikipedia-mined"
    pairs = read_pairs(snap)
    assert len(pairs) > 50  # only এশিয়া/Asia of the 9 links is in the 40-article bn sample
    first = pairs[0]
    assert first.bn.startswith("এশিয়া পৃথিবীর সবচেয়ে বড় ও সবচেয়ে জনবহুল মহাদেশ")
    assert first.en.startswith("Asia is the Earth's largest and most populous continent")
    p = first.provenance
    assert p["bn_page_id"] == "1108" and p["en_title"] == "Asia" and p["bn_index"] == "0" and p["en_index"] == "0"
    assert p["bn_rev_id"].isdigit() and p["en_rev_id"].isdigit() and p["en_page_id"].isdigit()
    assert all(0 < x.score <= 1 for x in pairs) and first.license == "CC BY-SA 4.0"
    manifest = storage.read_manifest(snap)
    assert len(manifest) == 9
    assert sum(r.status == "ok" for r in manifest) == 1
    skipped = [r for r in manifest if r.status == "skipped"]
    assert len(skipped) == 8 and all("bn article not in its snapshot" in r.reason for r in skipped)
    mtime = next(snap.glob("pairs-*.parquet")).stat().st_mtime_ns
    assert mine_main(args) == 0  # a rerun with the same inputs skips
    assert next(snap.glob("pairs-*.parquet")).stat().st_mtime_ns == mtime
    assert mine_main(args[:-3] + ["--en-snapshot", str(tmp_path / "missing"), "--quiet"]) in (0, 1)


def test_wiki_min_score_is_a_floor_on_kept_pairs(tmp_path, monkeypatch):
    """The pipeline's mining stage keeps no pair below the recipe's wiki_min_score, although the aligner's
    gap-filled links (score >= 0.15) fall below it; the dropped ones are counted in stats.json."""
    from bilingual.layout import DEFAULT_PIPELINE_RECIPE
    from bilingual.mining.wikipedia import mine_snapshots
    from bilingual.workflow import WikiSource, collect_wikipedia, load_recipe

    monkeypatch.setenv("BILINGUAL_CACHE", str(tmp_path / "cache"))
    recipe = load_recipe(DEFAULT_PIPELINE_RECIPE).model_copy(update={
        "wikipedia": [WikiSource(lang="bn", dump=str(BN40)), WikiSource(lang="en", dump=str(EN))],
        "wiki_links": str(OVERLAP), "wiki_min_score": 0.4})
    rows = collect_wikipedia(recipe, tmp_path / "run", "2026-11-26")
    mined = Path(next(r["snapshot"] for r in rows if r["source"] == "wikipedia-mined"))
    kept = read_pairs(mined)
    stats = json.loads((mined / "stats.json").read_text(encoding="utf-8"))
    assert kept and all(p.score >= 0.4 for p in kept)
    # the same alignment without the floor: the pairs under 0.4 are exactly the ones counted as dropped
    snaps = {lang: storage.snapshot_dir(tmp_path / "run", f"wikipedia-{lang}", "2026-11-26") for lang in ("bn", "en")}
    mine_snapshots(snaps["bn"], snaps["en"], OVERLAP, tmp_path / "unfloored", day="2026-11-26", threshold=0.4,
                   cache_dir=tmp_path / "run" / "cache")
    everything = read_pairs(storage.snapshot_dir(tmp_path / "unfloored", "wikipedia-mined", "2026-11-26"))
    below = [p for p in everything if p.score < 0.4]
    assert below, "the aligner kept no gap-filled pair under 0.4 here: the floor is not exercised"
    assert stats["below_min_score"] == len(below) and len(kept) == len(everything) - len(below)
    # the command line gives the same floor
    from bilingual.commands import mine
    assert mine.main(["--bn-snapshot", str(snaps["bn"]), "--en-snapshot", str(snaps["en"]), "--links", str(OVERLAP),
                      "--output-dir", str(tmp_path / "cli"), "--date", "2026-11-26", "--threshold", "0.4",
                      "--min-score", "0.4", "--quiet"]) == 0
    cli = read_pairs(storage.snapshot_dir(tmp_path / "cli", "wikipedia-mined", "2026-11-26"))
    assert sorted((p.bn, p.en) for p in cli) == sorted((p.bn, p.en) for p in kept)
