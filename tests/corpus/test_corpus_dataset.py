"""BilingualDataset: every input format and legacy record shape, save/stream/split, and migrate."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bilingual.corpus.dataset import BilingualDataset, UnreadableRecord, assign_splits, to_row
from bilingual.schema import normalize_key
from bilingual.storage import CorruptShardError

REPO = Path(__file__).resolve().parents[2]

LEGACY = [
    {"bn": "আমি ভাত খাই।", "en": "I eat rice."},
    {"src": "He is a doctor.", "tgt": "তিনি একজন ডাক্তার।", "src_lang": "en", "tgt_lang": "bn"},
    {"src": "আমরা স্কুলে যাই।", "tgt": "We go to school.", "src_lang": "bn_IN", "tgt_lang": "en_XX"},
    {"en_text": "It is raining.", "bn_text": "বৃষ্টি হচ্ছে।"},
    {"translation": {"bn": "বইটি টেবিলের উপর।", "en": "The book is on the table."}},
    {"text": "ঢাকা বাংলাদেশের রাজধানী।", "lang": "bn"},
    {"text": "Dhaka is the capital of Bangladesh.", "lang": "en"},
]


def test_legacy_shapes_map_to_pairs_and_documents():
    rows = [to_row(r) for r in LEGACY]
    pairs = [r for r in rows if "bn" in r]
    assert [(r["bn"], r["en"]) for r in pairs] == [
        ("আমি ভাত খাই।", "I eat rice."), ("তিনি একজন ডাক্তার।", "He is a doctor."),
        ("আমরা স্কুলে যাই।", "We go to school."), ("বৃষ্টি হচ্ছে।", "It is raining."),
        ("বইটি টেবিলের উপর।", "The book is on the table.")]
    docs = [r for r in rows if "text" in r]
    assert [d["lang"] for d in docs] == ["bn", "en"]
    for bad, msg in [({"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": "hi"}, "not bn and en"),
                     ({"bn": "", "en": "x"}, "empty"), ({"foo": 1}, "unknown record shape"),
                     ({"text": "x", "lang": "fr"}, "lang")]:
        with pytest.raises(UnreadableRecord, match=msg):
            to_row(bad)


def test_loads_every_format(tmp_path, samples):
    par = samples / "parallel"
    (tmp_path / "legacy.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LEGACY)
                                           + "{broken json\n" + json.dumps({"foo": 1}) + "\n", encoding="utf-8")
    bn = (par / "opus100" / "opus100.en-bn-validation.bn").read_text(encoding="utf-8").splitlines()[:50]
    en = (par / "opus100" / "opus100.en-bn-validation.en").read_text(encoding="utf-8").splitlines()[:50]
    (tmp_path / "opus.bn").write_text("\n".join(bn) + "\n", encoding="utf-8")
    (tmp_path / "opus.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    tsv = tmp_path / "t.tsv"
    tsv.write_text("\n".join((par / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()[:40]) + "\n",
                   encoding="utf-8")
    ds = BilingualDataset.load([tmp_path / "legacy.jsonl", tmp_path / "opus.bn", tsv, par / "tico19-all.en-bn.tmx"],
                               cache_dir=tmp_path / "cache")
    assert len(ds) == 5 + 50 + 40 + 3071
    # the 2 monolingual records are reported in pair mode (never dropped uncounted), and so are the 2 bad ones
    legacy = [e for e in ds.unreadable if e["file"].endswith("legacy.jsonl")]
    assert [e["record"] for e in legacy] == [6, 7, 8, 9]
    assert all("not a pair" in e["error"] for e in legacy[:2])
    # save as Parquet, reload, stream
    paths = ds.save(tmp_path / "out", prefix="train", shard_rows=1000)
    assert [p.name for p in paths] == [f"train-0000{i}-of-00004.parquet" for i in range(4)]
    assert sum(pq.read_metadata(p).num_rows for p in paths) == len(ds)
    again = BilingualDataset.load(tmp_path / "out", cache_dir=tmp_path / "cache2")
    assert [r["bn"] for r in again.stream()] == ds.dataset["bn"]
    docs = BilingualDataset.load(tmp_path / "legacy.jsonl", monolingual=True, cache_dir=tmp_path / "c3")
    assert sorted(docs.dataset["lang"]) == ["bn", "en"]
    # filter / map / split keep working through the wrapper
    short = ds.filter(lambda r: len(r["en"]) < 30)
    assert 0 < len(short) < len(ds)
    upper = short.map(lambda r: {"en": r["en"].upper()})
    assert all(t == t.upper() for t in upper.dataset["en"])
    parts = ds.split(validation=0.1, test=0.1)
    assert sum(len(p) for p in parts.values()) == len(ds)
    train_bn = {normalize_key(t) for t in parts["train"].dataset["bn"]}
    assert not train_bn & {normalize_key(t) for t in parts["test"].dataset["bn"]}


def test_assign_splits_keeps_shared_sides_together():
    bn = ["যাও।", "যাও।", "যান।", "অন্য বাক্য।"]
    en = ["Go.", "Leave.", "Go.", "Another sentence."]
    for v, t in [(0.0, 1.0), (1.0, 0.0), (0.3, 0.3)]:
        labels = assign_splits(bn, en, v, t)
        assert labels[0] == labels[1] == labels[2]  # linked through "যাও।" and "Go."
    assert assign_splits(bn, en, 0.3, 0.3) == assign_splits(bn, en, 0.3, 0.3)


def test_corrupt_parquet_is_named(tmp_path):
    bad = tmp_path / "pairs-00000.parquet"
    bad.write_bytes(b"garbage")
    with pytest.raises(CorruptShardError, match="pairs-00000.parquet"):
        BilingualDataset.load(bad, cache_dir=tmp_path / "c")


def test_migrate_command_reports_unreadable(tmp_path):
    src = tmp_path / "old"
    src.mkdir()
    (src / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LEGACY[:4]), encoding="utf-8")
    (src / "b.json").write_text(json.dumps(LEGACY[4:] + [{"src": "x", "tgt": "y", "src_lang": "en", "tgt_lang": "fr"}],
                                           ensure_ascii=False), encoding="utf-8")
    (src / "notes.docx").write_bytes(b"PK\x03\x04")
    out = tmp_path / "new"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "migrate.py"), str(src), str(out), "--quiet"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pairs = pq.read_table(next(out.glob("pairs-*.parquet")))
    docs = pq.read_table(next(out.glob("documents-*.parquet")))
    assert pairs.num_rows == 5 and docs.num_rows == 2
    unreadable = json.loads((out / "unreadable.json").read_text())
    assert {(Path(u["file"]).name, u["record"]) for u in unreadable} == {("b.json", 4), ("notes.docx", None)}
    assert "could not read" in proc.stdout and "notes.docx" in proc.stdout


def test_split_assignment_from_files_equals_the_in_memory_grouping(tmp_path):
    """The bounded-memory path (hashes on disk, shared sides found bucket by bucket, only linked rows
    grouped in memory) gives the same split for every row as grouping everything at once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bilingual.corpus.splits import SPLITS, assign_splits_files, row_hashes, split_codes

    lines = [line.split("\t") for line in
             (Path(__file__).resolve().parents[2] / "data/samples/parallel/tatoeba-ben-eng.tsv")
             .read_text(encoding="utf-8").splitlines()]
    en = [c[0] for c in lines]
    bn = [c[1] for c in lines]
    # chains across files: reuse sides so groups span shards and buckets
    bn += [bn[i].upper() + " " for i in range(0, 600, 3)]
    en += [en[i + 1] for i in range(0, 600, 3)]
    files = []
    for k, start in enumerate(range(0, len(bn), 1000)):
        files.append(tmp_path / f"kept-{k}.parquet")
        pq.write_table(pa.table({"bn": bn[start:start + 1000], "en": en[start:start + 1000]}), files[-1])
    expected = split_codes(*row_hashes(bn, en), 0.1, 0.1)
    got = assign_splits_files(files, 0.1, 0.1, batch_rows=700, work_dir=tmp_path, bucket_rows=500)
    assert np.array_equal(got, expected)
    assert set(np.bincount(got, minlength=3)) and all(np.bincount(got, minlength=3) > 0)
    assert [SPLITS[c] for c in got[:50]] == assign_splits(bn, en, 0.1, 0.1)[:50]
    assert not list(tmp_path.glob("splits-*"))  # its scratch files are removed
