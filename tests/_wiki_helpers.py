"""Helpers for the Wikipedia tests: real dump samples re-packed into other shapes."""

from __future__ import annotations

import bz2
import re
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
BN40 = SAMPLES / "wiki" / "bnwiki-202305-first40articles-pages-articles.xml.bz2"
BN722 = SAMPLES / "wiki" / "bnwiki-202305-first722pages-pages-articles.xml.bz2"
EN = SAMPLES / "wiki" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
OVERLAP = SAMPLES / "wiki" / "overlap_bn_en_titles.tsv"


def xml_bytes(path=BN40) -> bytes:
    return bz2.decompress(Path(path).read_bytes())


def split_pages(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header up to </siteinfo>, [each <page>...</page> with its leading whitespace], footer)."""
    cut = xml.index(b"</siteinfo>") + len(b"</siteinfo>")
    header, rest = xml[:cut] + b"\n", xml[cut:]
    pages, pos = [], 0
    while True:
        end = rest.find(b"</page>", pos)
        if end < 0:
            break
        pages.append(rest[pos:end + len(b"</page>")])
        pos = end + len(b"</page>")
    return header, pages, rest[pos:]


def make_multistream(xml: bytes, out_dir: Path, pages_per_stream: int = 10, name="bnwiki-20230501"):
    """Write a real multistream dump the way Wikimedia does: a header stream, one bz2 stream per
    group of pages, a footer stream; and its index (`offset:page_id:title`, bz2)."""
    header, pages, footer = split_pages(xml)
    dump = out_dir / f"{name}-pages-articles-multistream.xml.bz2"
    index = out_dir / f"{name}-pages-articles-multistream-index.txt.bz2"
    lines = []
    with open(dump, "wb") as f:
        f.write(bz2.compress(header))
        for i in range(0, len(pages), pages_per_stream):
            offset = f.tell()
            group = pages[i:i + pages_per_stream]
            for p in group:
                pid = int(re.search(rb"<id>(\d+)</id>", p).group(1))
                title = re.search(rb"<title>(.*?)</title>", p).group(1).decode()
                lines.append(f"{offset}:{pid}:{title}")
            f.write(bz2.compress(b"".join(group)))
        f.write(bz2.compress(footer))
    index.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return dump, index
