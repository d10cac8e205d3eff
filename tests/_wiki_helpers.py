"""Helpers for the Wikipedia tests: the bundled dump samples; re-packing them into other shapes lives in
bilingual.testing_utils (shared with the benchmarks)."""

from __future__ import annotations

import bz2
from pathlib import Path

from bilingual.layout import SAMPLES
from bilingual.testing_utils import make_multistream, split_pages  # noqa: F401 (re-exported to the tests)

BN40 = SAMPLES / "wiki" / "bnwiki-202305-first40articles-pages-articles.xml.bz2"
BN722 = SAMPLES / "wiki" / "bnwiki-202305-first722pages-pages-articles.xml.bz2"
EN = SAMPLES / "wiki" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
OVERLAP = SAMPLES / "wiki" / "overlap_bn_en_titles.tsv"


def xml_bytes(path=BN40) -> bytes:
    return bz2.decompress(Path(path).read_bytes())
