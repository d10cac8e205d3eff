import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import datasets
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from bilingual import storage
from bilingual.schema import Document, LineageRecord, SentencePair, pair_id, validate_rows
from bilingual.sources.corpora import readers as corpora

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)


def good_doc(**over):
    row = dict(id="bnwiki:1", lang="bn", text="বাংলা ভাষা।", title="বাংলা", source="wikipedia-bn",
               dump="bnwiki-20230501", page_id=1, revision_id=10, revision_time=NOW, license="CC BY-SA 4.0")
    row.update(over)
    return row


def test_document_accepts_good_and_fills_sha256():
    doc = Document.model_validate(good_doc(text="র‍্যাব এসেছে।"))  # ZWJ inside a word is legitimate
    assert len(doc.sha256) == 64
    assert doc.revision_time.tzinfo is not None


@pytest.mark.parametrize("over, message", [
    (dict(lang="hi"), "lang"),
    (dict(text="   "), "empty"),
    (dict(text="bad\x07bell"), r"control character U\+0007"),
    (dict(revision_time=datetime(2020, 1, 1)), "timezone-aware"),
    (dict(url="ftp://example.org/x"), "http"),
    (dict(url=None, page_id=None), "provenance"),
    (dict(sha256="0" * 64), "sha256"),
])
def test_document_rejects_bad(over, message):
    with pytest.raises(ValidationError, match=message):
        Document.model_validate(good_doc(**over))


def test_times_are_normalized_to_utc():
    dhaka = timezone(timedelta(hours=6))
    doc = Document.model_validate(good_doc(revision_time=datetime(2023, 5, 1, 12, tzinfo=dhaka)))
    assert doc.revision_time == datetime(2023, 5, 1, 6, tzinfo=timezone.utc)
    assert doc.revision_time.utcoffset() == timedelta(0)


def test_lineage_needs_reason_for_errors_and_a_location():
    with pytest.raises(ValidationError, match="reason"):
        LineageRecord(source="x", path="/a", status="error")
    with pytest.raises(ValidationError, match="url or a path"):
        LineageRecord(source="x", status="ok")
    rec = LineageRecord(source="x", url="https://bn.wikipedia.org/", status="skipped", reason="robots", http_status=None)
    assert rec.status == "skipped"


def test_invalid_rows_go_to_quarantine_not_lost(tmp_path):
    rows = [dict(id="a", bn="আমি", en="I", source="t", license="CC0"),
            dict(id="b", bn="", en="empty", source="t", license="CC0"),
            dict(id="c", bn="তুমি", en="you\x00", source="t", license="CC0")]
    good, bad = validate_rows(SentencePair, rows)
    assert [p.id for p in good] == ["a"]
    assert len(bad) == 2
    path = storage.write_quarantine(tmp_path, bad)
    table = pq.read_table(path).to_pylist()
    assert len(good) + len(table) == len(rows)
    assert "empty" in table[0]["error"] and "'id': 'b'" in table[0]["record"]
    assert "U+0000" in table[1]["error"]


def test_pair_id_is_stable_under_case_and_spacing():
    assert pair_id("আমি  ভাত খাই।", "I eat rice.") == pair_id("আমি ভাত খাই।", "i eat  RICE.")
    assert pair_id("আমি", "I") != pair_id("আমি", "me")


def test_interrupted_write_leaves_no_complete_looking_file(tmp_path):
    target = tmp_path / "processed" / "v1" / "train-00000.parquet"
    with pytest.raises(RuntimeError):
        with storage.atomic_path(target) as tmp:
            tmp.write_bytes(b"PAR1 half a shard")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_killed_process_leaves_only_temporary_file(tmp_path):
    """A process killed mid-write (SIGKILL, no cleanup) must not leave a shard under the real name."""
    code = f"""
import os, signal
from bilingual import storage
with storage.atomic_path({str(tmp_path / 'shard.parquet')!r}) as tmp:
    tmp.write_bytes(b'partial')
    os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.getcwd())
    assert proc.returncode != 0
    assert not (tmp_path / "shard.parquet").exists()
    assert storage.parquet_files(tmp_path) == []  # the leftover temp file is never listed as a shard


def test_shards_load_with_datasets_and_round_trip(tmp_path):
    pairs = [SentencePair(id=str(i), bn=f"বাক্য {i}", en=f"sentence {i}", source="t", license="CC0",
                          provenance={"line": i}) for i in range(25)]
    folder = storage.processed_dir(tmp_path, "v1")
    with storage.ShardWriter(folder, "train", storage.arrow_schema(SentencePair), shard_rows=10) as w:
        w.write_many(p.to_row() for p in pairs)
    assert [p.name for p in storage.parquet_files(folder)] == [f"train-0000{i}.parquet" for i in range(3)]
    ds = datasets.load_dataset("parquet", data_files=str(folder / "train-*.parquet"), split="train")
    assert ds.num_rows == 25 and ds[3]["bn"] == "বাক্য 3"
    back = [SentencePair.model_validate(r) for r in storage.iter_rows(storage.parquet_files(folder))]
    assert back == pairs


def test_manifest_round_trip(tmp_path):
    snap = storage.snapshot_dir(tmp_path, "tatoeba", "2026-11-26")
    assert snap == tmp_path / "raw" / "2026-11-26" / "tatoeba"
    recs = [LineageRecord(source="tatoeba", path="a.tsv", status="ok", bytes=3, records=2),
            LineageRecord(source="tatoeba", url="https://x.org/b", status="error", reason="HTTP 500", http_status=500)]
    storage.write_manifest(snap, recs)
    assert storage.read_manifest(snap) == recs
    with pytest.raises(ValueError):
        storage.snapshot_dir(tmp_path, "x", "2026-13-01")


def test_corrupt_shard_error_names_file(tmp_path):
    bad = tmp_path / "train-00000.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(storage.CorruptShardError, match="train-00000.parquet"):
        storage.read_table(bad)


def test_bundled_corpora_snapshot(tmp_path, samples):
    tsv = samples / "parallel" / "tatoeba-ben-eng.tsv"
    out = tmp_path / "raw" / "2026-11-26" / "tatoeba"
    counts = corpora.snapshot_corpus(corpora.read_tsv(tsv), out, "tatoeba", tsv, "CC-BY 2.0 FR")
    assert counts["read"] == 4642 and counts["kept"] + counts["quarantined"] == 4642
    rows = pq.read_table(out / "pairs-00000.parquet").to_pylist()
    assert "tatoeba.org #" in SentencePair.model_validate(rows[0]).provenance["attribution"]
    [lineage] = storage.read_manifest(out)
    assert lineage.status == "ok" and lineage.records == counts["kept"] and len(lineage.sha256) == 64
    tmx = list(corpora.read_tmx(samples / "parallel" / "tico19-all.en-bn.tmx"))
    assert len(tmx) == 3071 and tmx[0]["provenance"]["tuid"] == "CMU_1:1"


def test_malformed_tmx_keeps_what_was_read(tmp_path):
    bad = tmp_path / "cut.tmx"
    bad.write_text('<tmx version="1.4"><body><tu tuid="1"><tuv xml:lang="en"><seg>Hello</seg></tuv>'
                   '<tuv xml:lang="bn"><seg>হ্যালো</seg></tuv></tu><tu tuid="2"><tuv xml:lang="en"><seg>Bro',
                   encoding="utf-8")
    counts = corpora.snapshot_corpus(corpora.read_tmx(bad), tmp_path / "snap", "x", bad, "CC0")
    assert counts["kept"] == 1 and counts["status"] == "error" and "cut.tmx" in counts["reason"]
    assert "line 1" in counts["reason"]
    assert storage.read_manifest(tmp_path / "snap")[0].status == "error"


def test_run_lock_refuses_a_second_run_at_once(tmp_path):
    """Two runs into one folder: the second fails immediately with the caller's error, not a wait."""
    import multiprocessing

    from bilingual.storage import run_lock

    lock = tmp_path / ".lock"

    class Busy(RuntimeError):
        pass

    with run_lock(lock, lambda: Busy("busy"), remove_after=True):
        ctx = multiprocessing.get_context("spawn")  # another process, as a second run would be
        with ctx.Pool(1) as pool:
            assert pool.apply(_try_lock, (str(lock),)) == "busy"
    assert not lock.exists()
    with run_lock(lock, lambda: Busy("busy")):  # free again once released
        pass


def _try_lock(path: str) -> str:
    from pathlib import Path

    from bilingual.storage import run_lock

    try:
        with run_lock(Path(path), lambda: RuntimeError("busy")):
            return "acquired"
    except RuntimeError as err:
        return str(err)
