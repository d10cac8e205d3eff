"""Single-stream reader thread and bounded quarantine: the output never depends on the process count,
and memory never depends on the number of bad pages (issue 12)."""

from __future__ import annotations

import bz2
from datetime import datetime, timezone

from bilingual import storage
from bilingual.sources.wikipedia import dump as wikidump
from bilingual.sources.wikipedia.dump import DumpStats, collect_dump, iter_documents
from _wiki_helpers import make_multistream, split_pages, xml_bytes

RETRIEVED = datetime(2026, 11, 30, tzinfo=timezone.utc)


def _empty_page(page_id: int) -> bytes:
    """A main-namespace article whose text is empty: quarantined (a Document needs text)."""
    return (f"<page><title>Empty {page_id}</title><ns>0</ns><id>{page_id}</id><revision><id>{page_id}</id>"
            f"<timestamp>2023-01-01T00:00:00Z</timestamp><text bytes=\"0\" xml:space=\"preserve\" />"
            f"</revision></page>").encode()


def _run(path, processes, index=None):
    stats = DumpStats()
    docs = iter_documents(path, index=index, processes=processes, stats=stats, retrieved_at=RETRIEVED)
    rows = [d.model_dump() for d in docs]
    bad = [(q["record"], q["error"]) for q in stats.quarantine]
    return rows, stats.as_dict(), bad


def test_same_documents_order_stats_and_quarantine_for_any_process_count(tmp_path):
    header, pages, footer = split_pages(xml_bytes())
    # bad pages spread over the file, so several chunks carry quarantined rows
    body, added = [], 0
    for i, page in enumerate(pages):
        body.append(page)
        if i % 40 == 0:
            body.append(_empty_page(990_000 + i))
            added += 1
    xml = header + b"".join(body) + footer
    assert len(xml) > 3 * wikidump.XML_CHUNK_BYTES  # several chunks in flight at once
    single = tmp_path / "bnwiki-20230501-pages-articles.xml.bz2"
    single.write_bytes(bz2.compress(xml))
    multi, index = make_multistream(xml, tmp_path, pages_per_stream=10)

    rows1, stats1, bad1 = _run(single, 1)
    assert stats1["quarantined"] >= added > 3 and len(bad1) == stats1["quarantined"] and stats1["error"] is None
    assert stats1["pages"] == len(pages) + added
    for procs in (2, 3):
        rows, stats, bad = _run(single, procs)
        assert stats == stats1, procs
        assert bad == bad1, procs
        assert rows == rows1, procs
    mrows1, mstats1, mbad1 = _run(multi, 1, index)
    assert mstats1 == stats1 and len(mbad1) == len(bad1) and mrows1 == rows1
    for procs in (2, 3):
        assert _run(multi, procs, index)[1:] == (mstats1, mbad1), procs


def test_error_is_the_first_in_file_order_whatever_the_process_count(tmp_path):
    """A malformed page in the first chunk and a truncated bz2 end: every N reports the malformed page
    (the reader thread reaches the truncation first, but its error must not jump the queue)."""
    header, pages, footer = split_pages(xml_bytes())
    bad = b"<page><title>Bad</title><ns>0</ns><id>1</id><revision><id>1</id><text>x</txt></revision></page>"
    path = tmp_path / "t.xml.bz2"
    data = bz2.compress(header + pages[0] + bad + b"".join(pages[1:]) + footer)
    path.write_bytes(data[: len(data) * 3 // 4])
    errors = set()
    for procs in (1, 2, 3):
        stats = DumpStats()
        docs = list(iter_documents(path, stats=stats, processes=procs))
        assert docs and stats.error, procs
        errors.add(stats.error)
    (error,) = errors
    assert "malformed" in error and str(path) in error


def test_quarantine_memory_is_bounded_and_no_bad_page_is_lost(tmp_path):
    header, pages, footer = split_pages(xml_bytes())
    n_bad = wikidump.QUARANTINE_SAMPLE + 150
    bad = [_empty_page(900_000 + i) for i in range(n_bad)]
    path = tmp_path / "bnwiki-20230501-pages-articles.xml"
    path.write_bytes(header + b"".join(pages[:20]) + b"".join(bad) + b"".join(pages[20:40]) + footer)

    stats = DumpStats()
    seen = []
    stats.on_quarantine = seen.append
    list(iter_documents(path, stats=stats, processes=2))
    assert stats.quarantined == n_bad == len(seen)
    assert len(stats.quarantine) == wikidump.QUARANTINE_SAMPLE  # a sample, not every row
    assert stats.quarantine == seen[:wikidump.QUARANTINE_SAMPLE]

    summary = collect_dump(path, "bn", tmp_path / "out", day="2026-11-30", processes=2)
    assert summary["quarantined"] == n_bad
    snap = tmp_path / "out" / "raw" / "2026-11-30" / "wikipedia-bn"
    rows = list(storage.iter_rows([snap / "quarantine-bnwiki-20230501-pages-articles.parquet"]))
    assert [r["error"] for r in rows] == [q["error"] for q in seen]
    assert all(f"page {900_000 + i} " in rows[i]["error"] for i in range(n_bad))
    assert not list(snap.glob(".*.tmp"))
    # a rerun of a changed dump with no bad page leaves no stale quarantine file
    path.write_bytes(header + b"".join(pages[:40]) + footer)
    collect_dump(path, "bn", tmp_path / "out", day="2026-11-30")
    assert not list(snap.glob("quarantine-*.parquet"))
