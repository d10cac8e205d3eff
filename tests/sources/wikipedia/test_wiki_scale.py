"""Memory set by configuration: dump tasks bounded by compressed bytes, shards bounded by bytes and streamed
as row groups, and what `bilingual collect-wiki` tells the user. On the real bundled bnwiki sample."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bilingual import storage
from bilingual.commands.collect_wiki import main as collect_main
from bilingual.schema import Document
from bilingual.sources.wikipedia.dump import (DumpStats, _stream_tasks, collect_dump, iter_documents,
                                              iter_multistream, PageConverter, read_index)
from _wiki_helpers import BN40, make_multistream, xml_bytes

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string())])


def test_shard_writer_cuts_shards_by_bytes_and_streams_row_groups(tmp_path):
    rows = [{"id": f"r{i}", "text": "ক" * 300} for i in range(100)]  # ~900 UTF-8 bytes each
    with storage.ShardWriter(tmp_path, "t", SCHEMA, shard_bytes=9_000, buffer_bytes=2_000) as w:
        w.write_many(rows)
    assert len(w.paths) == 10 and w.rows == 100
    back = [r for p in w.paths for r in storage.read_table(p).to_pylist()]
    assert back == rows
    # a shard is written in several row groups: the writer never held a whole shard in memory
    assert all(pq.ParquetFile(p).num_row_groups >= 4 for p in w.paths)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    umask = storage.current_umask()
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in w.paths)  # readable by others under 022


def test_shard_writer_row_bound_and_empty_output(tmp_path):
    with storage.ShardWriter(tmp_path / "a", "t", SCHEMA, shard_rows=7) as w:
        w.write_many({"id": str(i), "text": "x"} for i in range(20))
    assert [pq.ParquetFile(p).metadata.num_rows for p in w.paths] == [7, 7, 6]
    with storage.ShardWriter(tmp_path / "b", "t", SCHEMA) as w:
        pass
    assert len(w.paths) == 1 and storage.read_table(w.paths[0]).num_rows == 0  # one empty shard with the schema


def test_shard_writer_killed_mid_shard_leaves_nothing_that_looks_complete(tmp_path):
    with pytest.raises(RuntimeError):
        with storage.ShardWriter(tmp_path, "t", SCHEMA, shard_bytes=5_000, buffer_bytes=1_000) as w:
            for i in range(12):
                w.write({"id": str(i), "text": "a" * 1_000})
            raise RuntimeError("killed")
    # the two full shards are complete and readable; the open third one is gone, temporary file included
    assert [p.name for p in storage.parquet_files(tmp_path)] == ["t-00000.parquet", "t-00001.parquet"]
    assert not list(tmp_path.glob(".*"))


def test_multistream_tasks_are_bounded_by_compressed_bytes(tmp_path):
    dump, index = make_multistream(xml_bytes(BN40), tmp_path, pages_per_stream=5)
    offsets = read_index(index)
    size = dump.stat().st_size
    streams = [b - a for a, b in zip(offsets, offsets[1:] + [size])]
    for task_bytes in (1, 20_000, 60_000, 10 << 20):
        tasks = list(_stream_tasks(dump, offsets, task_bytes))
        # the tasks cover every stream exactly once, in order
        assert [t[0] for t in tasks] == [offsets[0]] + [t[-1] for t in tasks[:-1]] and tasks[-1][-1] == size
        assert sum(len(t) - 1 for t in tasks) == len(offsets)
        # each task stops at the first stream boundary at or past task_bytes
        for t in tasks:
            assert t[-1] - t[0] < task_bytes + max(streams) or len(t) == 2
    assert len(list(_stream_tasks(dump, offsets, 1))) == len(offsets)  # one stream per task at least
    # the task size changes nothing in the output
    want = [(d.page_id, d.text) for d in iter_documents(BN40)]
    for task_bytes in (1, 20_000):
        got = list(iter_multistream(dump, index, lambda info: PageConverter(info), 2, DumpStats(), task_bytes))
        assert [(d.page_id, d.text) for d in got] == want


def test_collect_dump_shards_by_bytes_with_the_same_documents(tmp_path):
    want = [d.page_id for d in iter_documents(BN40)]
    row = collect_dump(BN40, "bn", tmp_path, day="2026-01-01", shard_bytes=50_000)
    snap = tmp_path / "raw" / "2026-01-01" / "wikipedia-bn"
    shards = storage.parquet_files(snap, "documents-*.parquet")
    assert row["kept"] == len(want) == 40 and len(shards) > 3
    assert [r["page_id"] for r in storage.iter_rows(shards)] == want
    assert storage.read_table(shards[0]).schema.equals(storage.arrow_schema(Document))
    assert not list(snap.glob(".*"))


def test_collect_wiki_says_where_it_wrote(tmp_path, capsys):
    code = collect_main(["--dump", str(BN40), "--lang", "bn", "--output-dir", str(tmp_path), "--date", "2026-01-01",
                         "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"wrote {tmp_path / 'raw' / '2026-01-01' / 'wikipedia-bn'}" in out
    with pytest.raises(SystemExit):
        collect_main(["--lang", "bn"])
    assert "usage: bilingual collect-wiki" in capsys.readouterr().err
    assert collect_main(["--dump", str(BN40), "--lang", "bn", "--output-dir", str(tmp_path),
                         "--processes", "0"]) == 2
    assert capsys.readouterr().err.startswith("bilingual collect-wiki: --processes")
