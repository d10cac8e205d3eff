"""The wikitext cleaner, checked against mwparserfromhell and real sentences of the bundled pages."""

from __future__ import annotations

import re

import mwparserfromhell
import pytest

from bilingual.sources.wikipedia.dump import iter_raw_pages, read_dump_info
from bilingual.sources.wikipedia.wikitext import Namespaces, WikitextCleaner, strip_templates
from _wiki_helpers import BN40, EN

WORD_RE = re.compile(r"[\u0980-\u09FF\u200c\u200d]{2,}|[A-Za-z]{3,}")
MARKUP = [re.compile(re.escape(m)) for m in ("[[", "]]", "{{", "}}", "<ref", "</", "thumb|", "|}", "{|", "\'\'\'")]
MARKUP += [re.compile(r"(?<![\u0980-\u09FF\w])" + ns + ":") for ns in ("বিষয়শ্রেণী", "চিত্র", "Category", "File", "Image")]


def _articles(path):
    info = read_dump_info(path)
    cleaner = WikitextCleaner(Namespaces.from_siteinfo(info.namespaces))
    return [(p.title, p.text, cleaner(p.text)) for p in iter_raw_pages(path) if p.ns == 0 and not p.redirect]


@pytest.fixture(scope="module")
def bn_pages():
    return _articles(BN40)


@pytest.fixture(scope="module")
def en_pages():
    return _articles(EN)[:50]


@pytest.mark.parametrize("which", ["bn", "en"])
def test_content_words_agree_with_mwparserfromhell(which, bn_pages, en_pages):
    pages = bn_pages if which == "bn" else en_pages
    ours_total = shared = 0
    for title, raw, ours in pages:
        theirs = set(WORD_RE.findall(mwparserfromhell.parse(raw).strip_code()))
        mine = WORD_RE.findall(ours)
        ours_total += len(mine)
        shared += sum(w in theirs for w in mine)
    # almost every word we output is one mwparserfromhell's plain text has too (we drop more:
    # references, tables, category/file links, which strip_code keeps)
    assert ours_total > (100_000 if which == "bn" else 80_000)
    assert shared / ours_total > 0.985


@pytest.mark.parametrize("which", ["bn", "en"])
def test_no_markup_left(which, bn_pages, en_pages):
    pages = bn_pages if which == "bn" else en_pages
    for title, _, ours in pages:
        for mark in MARKUP:
            m = mark.search(ours)
            assert not m, (title, mark.pattern, ours[max(0, m.start() - 80): m.end() + 80])


def test_real_bengali_sentences(bn_pages):
    text = {t: c for t, _, c in bn_pages}
    assert ("সৌরভ গঙ্গোপাধ্যায় বা সৌরভ গাঙ্গুলী (জন্ম ৮ জুলাই ১৯৭২) একজন প্রাক্তন ভারতীয় ক্রিকেটার এবং "
            "ভারতীয় জাতীয় ক্রিকেট দলের প্রাক্তন অধিনায়ক।") in text["সৌরভ গঙ্গোপাধ্যায়"]
    assert text["বাংলা ভাষা"].startswith("বাংলা ভাষা (বাঙলা, বাঙ্গলা, তথা বাঙ্গালা নামেও পরিচিত) একটি ইন্দো-আর্য ভাষা")
    # paragraphs survive as blank-line-separated blocks
    assert text["সৌরভ গঙ্গোপাধ্যায়"].count("\n\n") >= 5


def test_real_english_sentences(en_pages):
    text = {t: c for t, _, c in en_pages}
    assert text["Anarchism"].startswith("Anarchism is a political philosophy that advocates self-governed "
                                        "societies based on voluntary institutions.")
    assert "Animal Farm is an allegorical and dystopian novella by George Orwell" in text["Animal Farm"]


def test_namespaces_come_from_siteinfo():
    bn = Namespaces.from_siteinfo({6: "চিত্র", 14: "বিষয়শ্রেণী", 3000: "নতুননাম"}, canonical=False)
    clean = WikitextCleaner(bn)
    src = ("[[চিত্র:X.jpg|thumb|ক্যাপশন [[লিংক]]]]এক [[বাংলাদেশ|দেশ]]। [[বিষয়শ্রেণী:দেশ]]"
           "[[নতুননাম:কিছু|লেখা]] [[:বিষয়শ্রেণী:দেশ|দেশের তালিকা]] [[en:Bangladesh]]")
    out = clean(src)
    assert out == "এক দেশ। লেখা দেশের তালিকা"
    # without canonical names an English-named file link is an ordinary link; with them it is a file
    assert "File" in clean("[[File:X.jpg|thumb|cap]] লেখা") or clean("[[File:X.jpg|thumb|cap]] লেখা") == "cap লেখা"
    assert WikitextCleaner(Namespaces.from_siteinfo({6: "চিত্র"}))("[[File:X.jpg|thumb|cap]] লেখা") == "লেখা"


def test_templates_tables_refs_and_links():
    clean = WikitextCleaner()
    src = """{{Infobox country|name={{lang|bn|বাংলাদেশ}}|capital=[[Dhaka]]}}
'''Bangladesh''' ({{lang-bn|বাংলাদেশ}}) is a country<ref name="a">{{cite web|url=http://x.org}}</ref> in [[South Asia]].<ref name=a/>
{| class="wikitable"
|-
| cell || {{flag|India}}
|}
It covers {{convert|148460|km2}} of [[land (geography)|land]] and borders [[India]]s.<!-- hidden -->
== History ==
* The [http://example.org Example site] item &amp; more.
[[Category:Countries]]
{{unclosed
Last line."""
    out = clean(src)
    assert out.split("\n\n") == [
        "Bangladesh (বাংলাদেশ) is a country in South Asia.",
        "It covers 148460 km2 of land and borders Indias.",
        "History",
        "The Example site item & more.",
        "unclosed",
        "Last line.",
    ]
    assert strip_templates("a {{b|{{c}}|d}} e {{f}}") == "a  e "
