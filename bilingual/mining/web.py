"""Mine parallel sentences from a bilingual site: two crawl snapshots (its bn pages and its en pages).

Reads the Documents of both snapshots (`bilingual.sources.web.crawl` output), pairs pages
(documents.py: URL patterns first, then content), splits both sides into sentences (segment.py) and
aligns them (align.py, with one bootstrap round over all page pairs). Output: a `<name>` snapshot
(default `web-mined`) with SentencePairs whose provenance holds both URLs, both document ids, the
sentence indices and how the pages were paired; its manifest has one LineageRecord per input
document (ok with the pairs it gave, or skipped with the reason), so documents in == ok + skipped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

from bilingual import storage
from bilingual.console import progress
from bilingual.mining.align import align_documents
from bilingual.mining.documents import pair_documents
from bilingual.mining.lexicon import Lexicon, default_lexicon, parallel_pairs
from bilingual.mining.segment import split_sentences
from bilingual.schema import LineageRecord, SentencePair, pair_id, validate_rows

SOURCE = "web-mined"


def read_documents(snapshot, lang: str) -> list[dict]:
    """The Documents of a crawl snapshot in language `lang`; a clear error when it is not one."""
    snapshot = Path(snapshot)
    files = storage.parquet_files(snapshot, "documents-*.parquet") if snapshot.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{snapshot}: no documents-*.parquet; give a crawl snapshot folder "
                                f"(data/raw/<date>/<source>/, written by `bilingual scrape`)")
    docs = list(storage.iter_rows(files))
    other = {d.get("lang") for d in docs} - {lang}
    if other:
        raise ValueError(f"{snapshot}: expected {lang} documents, found {sorted(map(str, other))}; "
                         f"give the bn snapshot first, then the en one")
    return docs


def _lexicon_sig(lexicon: Optional[Lexicon]) -> str:
    if lexicon is None:
        return "default"
    return hashlib.sha256(json.dumps(lexicon.table, sort_keys=True).encode()).hexdigest()[:16]


def mine_web(bn_snapshot, en_snapshot, output_root, day=None, name: str = SOURCE, threshold: float = 0.3,
             bootstrap_rounds: int = 1, min_doc_score: float = 0.3, force: bool = False, cache_dir=None,
             lexicon: Optional[Lexicon] = None, trusted: Optional[list[tuple[str, str]]] = None) -> dict:
    """Pair pages, align their sentences, write `output_root/raw/<day>/<name>/pairs-*.parquet` + manifest +
    stats.json. Rerunning with the same inputs skips the work. The lexicon and the trusted pairs it is
    bootstrapped with default to the bundled parallel data (a benchmark passes its own, without the
    documents it serves)."""
    out = storage.snapshot_dir(output_root, name, day)
    sig = hashlib.sha256()
    for p in (*storage.parquet_files(bn_snapshot, "documents-*.parquet"),
              *storage.parquet_files(en_snapshot, "documents-*.parquet")):
        st = p.stat()
        sig.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    sig.update(f"lexicon={_lexicon_sig(lexicon)};threshold={threshold};bootstrap={bootstrap_rounds};min_doc={min_doc_score};v1".encode())
    stats_path = out / "stats.json"
    if not force and stats_path.exists():
        prev = json.loads(stats_path.read_text())
        if prev.get("signature") == sig.hexdigest():
            return {**prev, "skipped_existing": True}

    bn_docs = read_documents(bn_snapshot, "bn")
    en_docs = read_documents(en_snapshot, "en")
    lexicon = lexicon or default_lexicon(cache_dir=cache_dir)
    if bootstrap_rounds and trusted is None:
        trusted = parallel_pairs()
    doc_pairs, best = pair_documents(bn_docs, en_docs, lexicon, min_score=min_doc_score)
    sentences = [(split_sentences(bn_docs[p.bn]["text"], "bn"), split_sentences(en_docs[p.en]["text"], "en"))
                 for p in doc_pairs]
    results, _ = align_documents(sentences, lexicon, trusted=trusted if bootstrap_rounds else None,
                                 rounds=bootstrap_rounds, threshold=threshold,
                                 progress=lambda it, desc: progress(it, desc=desc, unit="page pair"))
    rows: list[dict] = []
    manifest: list[LineageRecord] = []
    for p, (bn_s, en_s), links in zip(doc_pairs, sentences, results):
        bd, ed = bn_docs[p.bn], en_docs[p.en]
        lic = bd["license"] if bd["license"] == ed["license"] else f"bn: {bd['license']}; en: {ed['license']}"
        for l in links:
            b = " ".join(bn_s[i] for i in l.bn)
            e = " ".join(en_s[j] for j in l.en)
            rows.append({"id": pair_id(b, e), "bn": b, "en": e, "source": name, "score": round(l.score, 4),
                         "license": lic,
                         "provenance": {"bn_url": bd["url"], "en_url": ed["url"], "bn_doc_id": bd["id"],
                                        "en_doc_id": ed["id"], "bn_source": bd["source"], "en_source": ed["source"],
                                        "bn_index": ",".join(map(str, l.bn)), "en_index": ",".join(map(str, l.en)),
                                        "bn_sentences": len(bn_s), "en_sentences": len(en_s),
                                        "doc_method": p.method, "doc_score": p.score}})
        for lang, d in (("bn", bd), ("en", ed)):
            manifest.append(LineageRecord(source=name, url=d["url"], path=f"{lang}:{d['id']}", status="ok",
                                          final_url=(ed if lang == "bn" else bd)["url"], records=len(links),
                                          sha256=d.get("sha256") or None, license=d["license"]))
    paired = {("bn", p.bn) for p in doc_pairs} | {("en", p.en) for p in doc_pairs}
    for lang, docs in (("bn", bn_docs), ("en", en_docs)):
        for k, d in enumerate(docs):
            if (lang, k) in paired:
                continue
            score = best.get((lang, k))
            why = (f"no-translation-found: no {'en' if lang == 'bn' else 'bn'} page with the same URL pattern, "
                   + (f"best content score {score:.3f} (share of sentences aligned with its closest candidates; "
                      f"needs ≥ {min_doc_score}, mutual best, a margin)"
                      if score is not None else "and none sharing any term"))
            manifest.append(LineageRecord(source=name, url=d["url"], path=f"{lang}:{d['id']}", status="skipped",
                                          reason=why, sha256=d.get("sha256") or None, license=d["license"]))
    good, bad = validate_rows(SentencePair, rows)
    for old in storage.parquet_files(out, "pairs-*.parquet"):
        old.unlink()
    with storage.ShardWriter(out, "pairs", storage.arrow_schema(SentencePair)) as w:
        w.write_many(x.to_row() for x in good)
    storage.write_quarantine(out, bad)
    storage.write_manifest(out, manifest)
    by_method = {m: sum(1 for p in doc_pairs if p.method == m) for m in ("url", "content")}
    licenses = sorted({d["license"] for d in bn_docs + en_docs})
    summary = {"source": name, "license": "; ".join(licenses), "snapshot": str(out), "bn_documents": len(bn_docs), "en_documents": len(en_docs),
               "document_pairs": len(doc_pairs), "paired_by_url": by_method["url"],
               "paired_by_content": by_method["content"],
               "unpaired_documents": len(bn_docs) + len(en_docs) - 2 * len(doc_pairs),
               "pairs": len(good), "quarantined": len(bad), "threshold": threshold,
               "bootstrap_rounds": bootstrap_rounds, "signature": sig.hexdigest(),
               "read": len(bn_docs) + len(en_docs), "kept": len(good), "status": "ok"}
    storage.write_json(stats_path, summary)
    return {**summary, "skipped_existing": False}
