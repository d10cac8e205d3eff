"""Readers for existing parallel corpora: Tatoeba-style TSV, TMX 1.4 and line-aligned files.

Each reader yields raw dicts shaped like `SentencePair` (validated by the caller, so bad rows
are quarantined rather than lost) and a `LineageRecord` per input file via `snapshot_corpus`.
TMX is parsed with iterparse so memory stays flat on large files.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator, Optional

from bilingual.schema import LineageRecord, SentencePair, pair_id, validate_rows
from bilingual import storage

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class CorpusFormatError(ValueError):
    """A corpus file that cannot be read; the message names the file and the place."""


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_tsv(path, source: str = "tatoeba", license: str = "CC-BY 2.0 FR",
             en_col: int = 0, bn_col: int = 1, attribution_col: Optional[int] = 2) -> Iterator[dict]:
    """Rows of `en<TAB>bn[<TAB>attribution]`. A row with too few columns is yielded with empty
    text so that validation quarantines it with its line number."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or row == [""]:
                continue
            en = row[en_col] if len(row) > en_col else ""
            bn = row[bn_col] if len(row) > bn_col else ""
            prov = {"file": path.name, "line": str(lineno)}
            if attribution_col is not None and len(row) > attribution_col:
                prov["attribution"] = row[attribution_col]
            yield {"id": pair_id(bn, en) if bn and en else f"{path.name}:{lineno}", "bn": bn, "en": en,
                   "source": source, "provenance": prov, "score": None, "license": license}


def read_tmx(path, source: str = "tico19", license: str = "CC0 1.0") -> Iterator[dict]:
    """Translation units of a TMX file; provenance keeps `tuid` and the `note` prop (source document)."""
    path = Path(path)
    try:
        for _, tu in ET.iterparse(path, events=("end",)):
            if tu.tag != "tu":
                continue
            segs = {}
            for tuv in tu.iter("tuv"):
                lang = (tuv.get(XML_LANG) or tuv.get("lang") or "").split("-")[0].lower()
                seg = tuv.find("seg")
                segs[lang] = "".join(seg.itertext()).strip() if seg is not None else ""
            prov = {"file": path.name}
            if tu.get("tuid"):
                prov["tuid"] = tu.get("tuid")
            for prop in tu.findall("prop"):
                prov[prop.get("type") or "prop"] = (prop.text or "").strip()
            bn, en = segs.get("bn", ""), segs.get("en", "")
            yield {"id": pair_id(bn, en) if bn and en else f"{path.name}:{tu.get('tuid')}", "bn": bn, "en": en,
                   "source": source, "provenance": prov, "score": None, "license": license}
            tu.clear()
    except ET.ParseError as err:
        line, col = err.position
        raise CorpusFormatError(f"{path}: malformed TMX at line {line}, column {col}: {err}") from err


def read_aligned(bn_path, en_path, source: str, license: str) -> Iterator[dict]:
    """Line-aligned plain text files (one sentence per line, same line count)."""
    bn_path, en_path = Path(bn_path), Path(en_path)
    with open(bn_path, encoding="utf-8") as fb, open(en_path, encoding="utf-8") as fe:
        for lineno, (bn, en) in enumerate(itertools.zip_longest(fb, fe), start=1):
            if bn is None or en is None:
                raise CorpusFormatError(
                    f"{bn_path} and {en_path} differ in length: one ends at line {lineno - 1}")
            bn, en = bn.rstrip("\n"), en.rstrip("\n")
            yield {"id": pair_id(bn, en) if bn.strip() and en.strip() else f"{bn_path.name}:{lineno}",
                   "bn": bn, "en": en, "source": source,
                   "provenance": {"file": bn_path.name, "line": str(lineno)}, "score": None, "license": license}


def snapshot_corpus(rows: Iterator[dict], out_dir, source: str, input_path, license: str) -> dict:
    """Validate `rows`, write pairs + quarantine + manifest into one snapshot folder, return counts.

    A file that fails mid-way keeps what was read before the fault and records the error."""
    out_dir = Path(out_dir)
    status, reason, raw = "ok", None, []
    try:
        for row in rows:
            raw.append(row)
    except (CorpusFormatError, UnicodeDecodeError, OSError) as err:
        status, reason = "error", str(err)
    good, bad = validate_rows(SentencePair, raw)
    storage.write_records(out_dir / "pairs-00000.parquet", good, SentencePair)
    storage.write_quarantine(out_dir, bad)
    lineage = LineageRecord(source=source, path=str(input_path), status=status, reason=reason,
                            bytes=Path(input_path).stat().st_size, sha256=file_sha256(input_path),
                            records=len(good), license=license)
    storage.write_manifest(out_dir, [lineage])
    return {"source": source, "read": len(raw), "kept": len(good), "quarantined": len(bad), "status": status,
            "reason": reason}
