"""Mine parallel sentences from bn/en Wikipedia articles joined by interlanguage links.

Reads two raw Documents snapshots (collect_wiki output), pairs articles through a links file
(langlinks SQL / TSV, or the bn snapshot's langlinks.parquet), following English redirects when a
redirect source is given; splits both into sentences (segment.py) and aligns them (align.py).
Output: a `wikipedia-mined` snapshot with SentencePairs Parquet (provenance: both page and revision
ids, titles, dumps, sentence indices) and a manifest with one LineageRecord per link (ok, or skipped
with the reason, e.g. the English article is not in the snapshot).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from bilingual import storage
from bilingual.console import progress
from bilingual.layout import DOCUMENTS_GLOB, PAIRS_GLOB, PAIRS_SHARD, STATS_JSON
from bilingual.schema import Document, LineageRecord, SentencePair, pair_id, validate_rows
from bilingual.mining.align import Aligner, align_documents
from bilingual.mining.lexicon import default_lexicon, parallel_pairs
from bilingual.sources.wikipedia.dump import redirects_from_dump
from bilingual.sources.wikipedia.langlinks import Link, load_links, normalize_title, read_redirects_tsv, resolve
from bilingual.mining.segment import split_sentences

SOURCE = "wikipedia-mined"
LICENSE = "CC BY-SA 4.0"


def _docs(snapshot) -> list[dict]:
    return list(storage.iter_rows(storage.parquet_files(snapshot, DOCUMENTS_GLOB)))


def _links(links_path, bn_snapshot) -> list[Link]:
    if links_path is not None:
        return load_links(links_path)
    p = Path(bn_snapshot) / "langlinks.parquet"
    if not p.exists():
        raise FileNotFoundError(f"{bn_snapshot}: no langlinks.parquet; pass a links file")
    return [Link(r["bn_page_id"], r["bn_title"], r["en_title"]) for r in storage.read_table(p).to_pylist()]


def _redirects(source) -> dict[str, str]:
    if source is None:
        return {}
    source = Path(source)
    if source.suffix in (".tsv", ".txt"):
        return read_redirects_tsv(source)
    return redirects_from_dump(source)


def mine_snapshots(bn_snapshot, en_snapshot, links_path, output_root, day=None, redirects=None,
                   threshold: float = 0.3, aligner: Optional[Aligner] = None, force: bool = False,
                   cache_dir=None, bootstrap_rounds: int = 1, min_score: Optional[float] = None) -> dict:
    """Align every linked article pair; write `output_root/raw/<day>/wikipedia-mined/pairs-*.parquet`
    + manifest.parquet + stats.json. Rerunning with the same inputs skips the work. The lexicon is
    learned once from the bundled parallel data and cached in `cache_dir` (default $BILINGUAL_CACHE or
    ~/.cache/bilingual); with `bootstrap_rounds` it is learned again with the confidently mined pairs
    and the articles are aligned again (align.align_documents). With `min_score`, links scoring below it are
    not kept (the aligner's gap-filled links may score under `threshold`); stats.json counts them."""
    from bilingual.sources.corpora.readers import check_snapshot

    for snapshot in (bn_snapshot, en_snapshot):
        check_snapshot(snapshot)  # a snapshot whose manifest records a failed input is refused, not mined
    out = storage.snapshot_dir(output_root, SOURCE, day)
    sig = hashlib.sha256()
    inputs = [p for p in (*storage.parquet_files(bn_snapshot, DOCUMENTS_GLOB),
                          *storage.parquet_files(en_snapshot, DOCUMENTS_GLOB), links_path, redirects) if p]
    for p in inputs:
        st = Path(p).stat()
        sig.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    sig.update(f"threshold={threshold};bootstrap={bootstrap_rounds};min_score={min_score};aligner=v3".encode())
    stats_path = out / STATS_JSON
    if not force and stats_path.exists() and storage.parquet_files(out, PAIRS_GLOB):
        import json
        prev = json.loads(stats_path.read_text())
        if prev.get("signature") == sig.hexdigest():
            return {**prev, "skipped_existing": True}

    bn_docs = _docs(bn_snapshot)
    en_docs = _docs(en_snapshot)
    by_id = {d["page_id"]: d for d in bn_docs}
    by_bn_title = {normalize_title(d["title"]): d for d in bn_docs if d.get("title")}
    by_en_title = {normalize_title(d["title"]): d for d in en_docs if d.get("title")}
    redirect_map = _redirects(redirects)
    links = _links(links_path, bn_snapshot)
    rows: list[dict] = []
    manifest: list[LineageRecord] = []
    counts = {"links": len(links), "article_pairs": 0, "missing_bn": 0, "missing_en": 0, "below_min_score": 0}
    found: list[tuple[str, dict, dict, list[str], list[str]]] = []
    for link in progress(links, desc="reading", unit="article"):
        bn = by_id.get(link.bn_page_id) if link.bn_page_id is not None else None
        if bn is None and link.bn_title:
            bn = by_bn_title.get(normalize_title(link.bn_title))
        en_title = resolve(link.en_title, redirect_map)
        en = by_en_title.get(en_title)
        where = f"{links_path or bn_snapshot}#bn={link.bn_page_id or link.bn_title}"
        if bn is None or en is None:
            which = "bn" if bn is None else "en"
            counts[f"missing_{which}"] += 1
            manifest.append(LineageRecord(source=SOURCE, path=where, status="skipped",
                                          reason=f"{which} article not in its snapshot ({link.bn_title or link.bn_page_id}"
                                                 f" → {en_title})", license=LICENSE))
            continue
        counts["article_pairs"] += 1
        found.append((where, bn, en, split_sentences(bn["text"], "bn"), split_sentences(en["text"], "en")))
    if aligner is not None:
        results = [aligner.align(b, e) for *_, b, e in progress(found, desc="mining", unit="article")]
    else:
        results, _ = align_documents([(b, e) for *_, b, e in found], default_lexicon(cache_dir=cache_dir),
                                     trusted=parallel_pairs() if bootstrap_rounds else None,
                                     rounds=bootstrap_rounds, threshold=threshold,
                                     progress=lambda it, desc: progress(it, desc=desc, unit="article"))
    for (where, bn, en, bn_sents, en_sents), links_found in zip(found, results):
        if min_score is not None:
            kept_links = [l for l in links_found if round(l.score, 4) >= min_score]  # as the score is stored
            counts["below_min_score"] += len(links_found) - len(kept_links)
            links_found = kept_links
        for l in links_found:
            b = " ".join(bn_sents[i] for i in l.bn)
            e = " ".join(en_sents[j] for j in l.en)
            rows.append({"id": pair_id(b, e), "bn": b, "en": e, "source": SOURCE, "score": round(l.score, 4),
                         "license": LICENSE,
                         "provenance": {"bn_page_id": bn["page_id"], "en_page_id": en["page_id"],
                                        "bn_rev_id": bn["revision_id"], "en_rev_id": en["revision_id"],
                                        "bn_title": bn["title"], "en_title": en["title"],
                                        "bn_dump": bn.get("dump") or "", "en_dump": en.get("dump") or "",
                                        "bn_index": ",".join(map(str, l.bn)), "en_index": ",".join(map(str, l.en)),
                                        "bn_sentences": len(bn_sents), "en_sentences": len(en_sents)}})
        manifest.append(LineageRecord(source=SOURCE, path=where, url=bn.get("url"), final_url=en.get("url"),
                                      status="ok", records=len(links_found), license=LICENSE))
    good, bad = validate_rows(SentencePair, rows)
    for old in storage.parquet_files(out, PAIRS_GLOB):
        old.unlink()
    with storage.ShardWriter(out, PAIRS_SHARD, storage.arrow_schema(SentencePair)) as w:
        w.write_many(p.to_row() for p in good)
    storage.write_quarantine(out, bad)
    storage.write_manifest(out, manifest)
    summary = {"source": SOURCE, "license": LICENSE, "snapshot": str(out), **counts, "pairs": len(good),
               "quarantined": len(bad), "threshold": threshold, "min_score": min_score, "bootstrap_rounds": bootstrap_rounds, "signature": sig.hexdigest(),
               "read": counts["links"], "kept": len(good), "status": "ok"}
    storage.write_json(stats_path, summary)
    return {**summary, "skipped_existing": False}


def read_pairs(snapshot) -> list[SentencePair]:
    return [SentencePair.model_validate(r) for r in storage.iter_rows(storage.parquet_files(snapshot, PAIRS_GLOB))]


__all__ = ["mine_snapshots", "read_pairs", "Document"]
