"""The dump reader on the real bundled bnwiki/enwiki samples, re-packed into every input shape."""

from __future__ import annotations

import bz2
import gzip
import lzma
from datetime import timezone

import pytest

from bilingual import storage
from bilingual.commands.collect_wiki import main as collect_main
from bilingual.schema import Document
from bilingual.sources.wikipedia.dump import (LICENSE, DumpReadError, DumpStats, collect_dump, iter_documents,
                                        read_dump_info)
from _wiki_helpers import BN40, EN, make_multistream, split_pages, xml_bytes


@pytest.fixture(scope="module")
def bn40_docs():
    stats = DumpStats()
    return list(iter_documents(BN40, stats=stats)), stats


def _key(docs):
    return [(d.page_id, d.revision_id, d.title, d.text) for d in docs]


def test_bn_sample_documents(bn40_docs):
    docs, stats = bn40_docs
    assert len(docs) == 40 and stats.pages == 240 and stats.error is None
    assert stats.pages == stats.documents + stats.skipped + stats.quarantined
    d = docs[0]
    assert isinstance(d, Document) and d.lang == "bn" and d.source == "wikipedia-bn"
    assert (d.page_id, d.title, d.dump, d.license) == (608, "বাংলা ভাষা", "bnwiki-202305", LICENSE == "CC BY-SA 4.0" and LICENSE)
    assert d.revision_id > 0 and d.revision_time.tzinfo is not None
    assert d.revision_time.utcoffset() == timezone.utc.utcoffset(None)
    assert d.url.startswith("https://bn.wikipedia.org/wiki/")
    assert all(doc.id == f"bnwiki:{doc.page_id}" for doc in docs)
    info = read_dump_info(BN40)
    assert info.namespaces[14] == "বিষয়শ্রেণী" and info.namespaces[6] == "চিত্র"


def test_en_sample_skips_redirects():
    stats = DumpStats()
    docs = list(iter_documents(EN, stats=stats))
    titles = {d.title for d in docs}
    assert len(docs) == 106 and stats.redirects == 99
    assert "AccessibleComputing" not in titles and "Anarchism" in titles
    assert docs[0].lang == "en" and docs[0].url == "https://en.wikipedia.org/wiki/Anarchism"


def test_compression_formats_give_the_same_documents(tmp_path, bn40_docs):
    header, pages, footer = split_pages(xml_bytes())
    xml = header + b"".join(pages[-25:]) + footer
    (tmp_path / "d.xml.bz2").write_bytes(bz2.compress(xml))
    want = _key(iter_documents(tmp_path / "d.xml.bz2"))
    assert want == _key(bn40_docs[0])[-len(want):] and len(want) >= 3
    (tmp_path / "d.xml").write_bytes(xml)
    (tmp_path / "d.xml.gz").write_bytes(gzip.compress(xml))
    (tmp_path / "d.xml.xz").write_bytes(lzma.compress(xml, preset=1))
    for name in ("d.xml", "d.xml.gz", "d.xml.xz"):
        assert _key(iter_documents(tmp_path / name)) == want, name


def test_two_processes_same_output(bn40_docs):
    assert _key(iter_documents(BN40, processes=2)) == _key(bn40_docs[0])


def test_multistream_with_index(tmp_path, bn40_docs):
    dump, index = make_multistream(xml_bytes(), tmp_path, pages_per_stream=10)
    # a real multistream file: many concatenated bz2 streams
    assert dump.read_bytes().count(b"BZh9") >= 24
    want = _key(bn40_docs[0])
    for procs in (1, 2):
        stats = DumpStats()
        got = list(iter_documents(dump, index=index, processes=procs, stats=stats))
        assert _key(got) == want and stats.error is None and stats.pages == 240
    assert got[0].dump == "bnwiki-20230501"


def test_multistream_corrupt_stream_keeps_the_rest(tmp_path, bn40_docs):
    dump, index = make_multistream(xml_bytes(), tmp_path, pages_per_stream=10)
    offsets = sorted({int(l.split(":")[0]) for l in bz2.decompress(index.read_bytes()).decode().splitlines()})
    data = bytearray(dump.read_bytes())
    bad = offsets[3]
    data[bad + 100: bad + 140] = b"\x00" * 40  # damage the 4th article stream
    dump.write_bytes(bytes(data))
    stats = DumpStats()
    got = list(iter_documents(dump, index=index, processes=2, stats=stats))
    assert stats.error and str(dump) in stats.error and f"{bad:,}" in stats.error
    assert stats.pages == 240 - 10  # only the damaged stream's 10 pages are lost
    assert [d.page_id for d in got] == [d.page_id for d in bn40_docs[0] if d.page_id in {g.page_id for g in got}]


def test_disambiguation_skipped_by_option(tmp_path):
    header, pages, footer = split_pages(xml_bytes())
    dab = (b"<page><title>\xe0\xa6\xac\xe0\xa6\xbe\xe0\xa6\x82\xe0\xa6\xb2\xe0\xa6\xbe (dab)</title><ns>0</ns>"
           b"<id>999001</id><revision><id>5</id><timestamp>2023-01-01T00:00:00Z</timestamp>"
           b"<text bytes=\"1\" xml:space=\"preserve\">'''X''' may mean: [[A]], [[B]].\n{{\xe0\xa6\xa6\xe0\xa7\x8d"
           b"\xe0\xa6\xac\xe0\xa7\x8d\xe0\xa6\xaf\xe0\xa6\xb0\xe0\xa7\x8d\xe0\xa6\xa5\xe0\xa6\xa4\xe0\xa6\xbe "
           b"\xe0\xa6\xa8\xe0\xa6\xbf\xe0\xa6\xb0\xe0\xa6\xb8\xe0\xa6\xa8}}</text></revision></page>")
    (tmp_path / "d.xml").write_bytes(header + dab + b"".join(pages[:5]) + footer)
    ids = [d.page_id for d in iter_documents(tmp_path / "d.xml")]
    assert 999001 in ids
    stats = DumpStats()
    ids = [d.page_id for d in iter_documents(tmp_path / "d.xml", skip_disambiguation=True, stats=stats)]
    assert 999001 not in ids and stats.disambiguation == 1


def test_empty_page_and_unknown_namespace_are_quarantined_with_their_ids(tmp_path):
    header, pages, footer = split_pages(xml_bytes())
    empty = (b"<page><title>Empty</title><ns>0</ns><id>999002</id><revision><id>6</id>"
             b"<timestamp>2023-01-01T00:00:00Z</timestamp><text bytes=\"0\" xml:space=\"preserve\" /></revision></page>")
    odd = (b"<page><title>Zzz:Odd</title><ns>9999</ns><id>999003</id><revision><id>7</id>"
           b"<timestamp>2023-01-01T00:00:00Z</timestamp><text xml:space=\"preserve\">x</text></revision></page>")
    (tmp_path / "d.xml").write_bytes(header + b"".join(pages[-30:]) + empty + odd + footer)
    stats = DumpStats()
    docs = list(iter_documents(tmp_path / "d.xml", stats=stats))
    assert stats.quarantined == 2 and "999002" in stats.quarantine[0]["error"]
    assert "namespace 9999" in stats.quarantine[1]["error"] and "999003" in stats.quarantine[1]["error"]
    assert stats.pages == stats.documents + stats.skipped + stats.quarantined == 32
    assert docs


@pytest.mark.parametrize("kind", ["truncated_bz2", "truncated_xz", "cut_mid_page", "malformed"])
def test_bad_input_keeps_what_came_before(tmp_path, kind, bn40_docs):
    xml = xml_bytes()
    header, pages, footer = split_pages(xml)
    if kind == "truncated_bz2":
        path = tmp_path / "t.xml.bz2"
        path.write_bytes(BN40.read_bytes()[:300_000])
        expect = "truncated compressed stream"
    elif kind == "truncated_xz":
        path = tmp_path / "t.xml.xz"
        path.write_bytes(lzma.compress(xml, preset=1)[:250_000])
        expect = "truncated compressed stream"
    elif kind == "cut_mid_page":
        path = tmp_path / "t.xml"
        body = header + b"".join(pages[:210])
        path.write_bytes(body + pages[210][: len(pages[210]) // 2])
        expect = "cut in the middle of a page"
    else:
        path = tmp_path / "t.xml"
        bad = b"<page><title>Bad</title><ns>0</ns><id>1</id><revision><id>1</id><text>x</txt></revision></page>"
        path.write_bytes(header + b"".join(pages[:210]) + bad + b"".join(pages[210:]) + footer)
        expect = "malformed"
    for procs in (1, 2):
        stats = DumpStats()
        docs = list(iter_documents(path, stats=stats, processes=procs))
        assert stats.error and str(path) in stats.error and expect in stats.error, stats.error
        assert "byte" in stats.error
        assert len(docs) >= 5
        assert _key(docs)[:5] == _key(bn40_docs[0])[:5]
    with pytest.raises(DumpReadError):
        list(iter_documents(path))


def test_collect_snapshot_manifest_and_rerun(tmp_path):
    s1 = collect_dump(BN40, "bn", tmp_path, day="2026-11-26")
    snap = tmp_path / "raw" / "2026-11-26" / "wikipedia-bn"
    assert s1["kept"] == 40 and s1["status"] == "ok" and not s1["skipped_existing"]
    rows = list(storage.iter_rows(storage.parquet_files(snap, "documents-*.parquet")))
    assert len(rows) == 40 and rows[0]["page_id"] == 608
    (rec,) = storage.read_manifest(snap)
    assert rec.status == "ok" and rec.records == 40 and rec.sha256
    s2 = collect_dump(BN40, "bn", tmp_path, day="2026-11-26")
    assert s2["skipped_existing"] and s2["kept"] == 40
    # a broken second file: its documents before the fault are kept and the manifest says why
    broken = tmp_path / "bnwiki-20230501-broken.xml.bz2"
    broken.write_bytes(BN40.read_bytes()[:300_000])
    rc = collect_main(["--dump", str(broken), "--dump", str(BN40), "--lang", "bn", "--output-dir", str(tmp_path),
                       "--date", "2026-11-26", "--quiet"])
    assert rc == 1
    manifest = {r.path: r for r in storage.read_manifest(snap)}
    assert manifest[str(broken)].status == "error" and "truncated" in manifest[str(broken)].reason
    assert manifest[str(broken)].records > 0 and manifest[str(BN40)].status == "ok"
    assert storage.parquet_files(snap, "documents-bnwiki-20230501-broken-*.parquet")
