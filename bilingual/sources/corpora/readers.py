"""Readers for existing parallel corpora: Tatoeba-style TSV, TMX 1.4 and line-aligned files.

Each reader yields raw dicts shaped like `SentencePair` (validated by the caller, so bad rows
are quarantined rather than lost) and a `LineageRecord` per input file via `snapshot_corpus`.
TMX is parsed with iterparse so memory stays flat on large files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
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


SNIFF_BYTES = 8192
FIX_ENCODING = "re-save it as UTF-8 text"


def check_text_file(path, what: str = "text file") -> Path:
    """Refuse at once what cannot be a text corpus: a missing, empty or binary file (NUL bytes)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file; check the path")
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip():
        raise CorpusFormatError(f"{path}: empty file; give a {what} with at least one line")
    if b"\x00" in head:
        raise CorpusFormatError(f"{path}: binary data (NUL bytes), not a {what}; "
                                "check the file (UTF-16 text must be re-saved as UTF-8)")
    return path


def text_lines(path, what: str = "text file") -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) of a UTF-8 text file; a BOM is dropped; a byte that is not
    UTF-8 raises CorpusFormatError naming the line. No line-length limit (unlike the csv module)."""
    path = check_text_file(path, what)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise CorpusFormatError(f"{path}: line {lineno}: not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                                        f"{err.start + 1}); {FIX_ENCODING}") from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield lineno, line.rstrip("\r\n")


def read_tsv(path, source: str = "tatoeba", license: str = "CC-BY 2.0 FR",
             en_col: int = 0, bn_col: int = 1, attribution_col: Optional[int] = 2) -> Iterator[dict]:
    """Rows of `en<TAB>bn[<TAB>attribution]`. A file whose first row has one column is refused (not a
    TSV of pairs); a later row with too few columns is yielded with empty text so that validation
    quarantines it with its line number. Fields may be any length."""
    path = Path(path)
    first = True
    for lineno, line in text_lines(path, "TSV file (en<TAB>bn per line)"):
        if not line.strip():
            continue
        row = line.split("\t")
        if first and len(row) <= max(en_col, bn_col):
            raise CorpusFormatError(f"{path}: line {lineno}: {len(row)} column(s), expected en<TAB>bn[<TAB>attribution]; "
                                    "give a tab-separated file (for line-aligned text give 'BN_FILE,EN_FILE')")
        first = False
        en = row[en_col] if len(row) > en_col else ""
        bn = row[bn_col] if len(row) > bn_col else ""
        prov = {"file": path.name, "line": str(lineno)}
        if attribution_col is not None and len(row) > attribution_col:
            prov["attribution"] = row[attribution_col]
        yield {"id": pair_id(bn, en) if bn and en else f"{path.name}:{lineno}", "bn": bn, "en": en,
               "source": source, "provenance": prov, "score": None, "license": license}


def read_jsonl(path) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON value) per non-blank line; a line that is not JSON gives
    (line number, CorpusFormatError) so the caller can count it as unreadable and go on."""
    path = Path(path)
    for lineno, line in text_lines(path, "JSON Lines file (one object per line)"):
        if line.strip():
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                yield lineno, CorpusFormatError(f"{path}: line {lineno}: invalid JSON ({err.msg} at column {err.colno})")


def read_json(path) -> list:
    """Records of a .json file: a list, or {"data": [...]}, or one object."""
    path = check_text_file(path, "JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise CorpusFormatError(f"{path}: not UTF-8 (byte {err.start}); {FIX_ENCODING}") from None
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{path}: line {err.lineno}: invalid JSON ({err.msg}); fix the file") from None
    return data if isinstance(data, list) else data.get("data", [data]) if isinstance(data, dict) else [data]


def read_tmx(path, source: str = "tico19", license: str = "CC0 1.0") -> Iterator[dict]:
    """Translation units of a TMX file; provenance keeps `tuid` and the `note` prop (source document)."""
    path = check_text_file(path, "TMX file")
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
    bn_lines = text_lines(bn_path, "line-aligned text file")
    en_lines = text_lines(en_path, "line-aligned text file")
    for (lineno, bn), (_, en) in _zip_same_length(bn_lines, en_lines, bn_path, en_path):
        yield {"id": pair_id(bn, en) if bn.strip() and en.strip() else f"{bn_path.name}:{lineno}",
               "bn": bn, "en": en, "source": source,
               "provenance": {"file": bn_path.name, "line": str(lineno)}, "score": None, "license": license}


def _zip_same_length(a, b, a_path, b_path):
    n = 0
    for x, y in itertools.zip_longest(a, b):
        if x is None or y is None:
            raise CorpusFormatError(f"{a_path} and {b_path} differ in length: one ends at line {n}; "
                                    "line-aligned files need one sentence per line in both")
        n += 1
        yield x, y


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


class SnapshotError(CorpusFormatError):
    """A raw snapshot whose manifest records a failed input: its data is partial."""


def check_snapshot(folder) -> None:
    """Refuse a snapshot whose manifest.parquet says an input failed (status "error"), naming the input,
    the reason and what to do; stages that read snapshots call this before trusting their data."""
    from bilingual.storage import read_manifest

    folder = Path(folder)
    if not folder.is_dir():
        raise SnapshotError(f"{folder}: no such snapshot folder")
    failed = [r for r in read_manifest(folder) if r.status == "error"]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise SnapshotError(f"{folder / 'manifest.parquet'}: input {first.path} failed: {first.reason or 'no reason given'}"
                            f"{more}; fix the input and re-run the stage that wrote this snapshot")
