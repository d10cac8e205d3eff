"""langlinks SQL/TSV parsing and sentence segmentation on real bundled data."""

from __future__ import annotations

import gzip

import pytest

from bilingual.sources.wikipedia.langlinks import (SqlFormatError, iter_sql_rows, load_links, read_langlinks_sql, resolve)
from bilingual.mining.segment import split_sentences
from bilingual.sources.wikipedia.dump import iter_documents, redirects_from_dump
from _wiki_helpers import BN40, EN, OVERLAP, SAMPLES


def test_sql_rows_of_the_real_wikimedia_table_dump():
    rows = list(iter_sql_rows(SAMPLES / "sql" / "simplewiki-change_tag_def.testfile.sql.gz"))
    assert len(rows) == 84
    assert rows[0] == (1, "mw-replace", 0, 10200)
    assert rows[15] == (16, "uppercase- or lowercase-only article", 0, 24377)
    assert all(isinstance(r[0], int) and isinstance(r[1], str) for r in rows)


LANGLINKS = r"""-- MySQL dump
CREATE TABLE `langlinks` (
  `ll_from` int(8) unsigned NOT NULL DEFAULT 0,
  `ll_lang` varbinary(35) NOT NULL DEFAULT '',
  `ll_title` varbinary(255) NOT NULL DEFAULT ''
);
INSERT INTO `langlinks` VALUES (1108,'en','Asia'),(1163,'en','Afghanistan'),(1164,'fr','Albanie'),(2001,'en','Rock \'n\' Roll (album), part 2'),(2002,'en','C:\\Windows'),(2003,'en','Say \"hi\"; then (leave), ok'),(2004,'en','a_b_c');
INSERT INTO `langlinks` VALUES (2005,'en','Tab\there'),(2006,'en','');
INSERT INTO `other` VALUES (1,'en','x');
"""


def test_langlinks_sql_with_odd_escaping(tmp_path):
    path = tmp_path / "bnwiki-20230501-langlinks.sql.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(LANGLINKS)
    links = read_langlinks_sql(path)
    assert links[1108] == "Asia" and 1164 not in links
    assert links[2001] == "Rock 'n' Roll (album), part 2"
    assert links[2002] == "C:\\Windows"
    assert links[2003] == 'Say "hi"; then (leave), ok'
    assert links[2004] == "A b c"  # underscores are spaces, first letter upper case
    assert links[2005] == "Tab here" and 2006 not in links  # \t unescaped, then whitespace normalised
    assert [l.bn_page_id for l in load_links(path)][:2] == [1108, 1163]


@pytest.mark.parametrize("row, where", [("(1,'en','never closed);", "cannot read a value"),
                                        ("(1,'en','x')(2,'en','y');", "expected ',' or ';'"),
                                        ("(1,'en' 'x');", "expected ',' or ')'")])
def test_bad_sql_rows_name_file_line_and_column(tmp_path, row, where):
    path = tmp_path / "ll.sql"
    path.write_text("-- x\nINSERT INTO `langlinks` VALUES (5,'en','Fine')," + row + "\n", encoding="utf-8")
    with pytest.raises(SqlFormatError) as err:
        list(iter_sql_rows(path))
    msg = str(err.value)
    assert f"{path}:2:" in msg and where in msg


def test_overlap_tsv_and_english_redirects():
    links = load_links(OVERLAP)
    assert len(links) == 9 and links[0].bn_page_id == 1108 and links[0].en_title == "Asia"
    assert links[7].bn_title == "আলবার্ট আইনস্টাইন" and links[7].en_title == "Albert Einstein"
    redirects = redirects_from_dump(EN)
    assert redirects["AccessibleComputing"] == "Computer accessibility"
    assert resolve("AfghanistanHistory", redirects) == "History of Afghanistan"
    assert resolve("Asia", redirects) == "Asia"


def test_bengali_segmentation_rules():
    cases = {
        "আদি-মধ্য বাংলার স্থিতিকাল আনুমানিক ১৩৫০ খ্রি. হতে ১৪৫০ খ্রি. পর্যন্ত। চতুর্দশ শতক।":
            ["আদি-মধ্য বাংলার স্থিতিকাল আনুমানিক ১৩৫০ খ্রি. হতে ১৪৫০ খ্রি. পর্যন্ত।", "চতুর্দশ শতক।"],
        "শেখ মুজিবুর রহমান ও ড. কামাল হোসেন গেলেন। মো. আলী ৪১০ কি.মি. হাঁটলেন॥ হার ৩.৫ শতাংশ, 3.5 নয়!":
            ["শেখ মুজিবুর রহমান ও ড. কামাল হোসেন গেলেন।", "মো. আলী ৪১০ কি.মি. হাঁটলেন॥", "হার ৩.৫ শতাংশ, 3.5 নয়!"],
        'সে কহিল, "তুমি কী আমারে চিন?" বইনে কহিল।তারপর চলে গেল':
            ['সে কহিল, "তুমি কী আমারে চিন?"', "বইনে কহিল।", "তারপর চলে গেল"],
    }
    for text, want in cases.items():
        assert split_sentences(text, "bn") == want


def test_english_segmentation_rules():
    text = ('Mr. J. R. R. Tolkien wrote it in 1937. He lived in the U.S. for a while? No! "Yes." '
            "It cost $3.5 million, e.g. a lot.\n\nNew paragraph without a stop")
    assert split_sentences(text, "en") == [
        "Mr. J. R. R. Tolkien wrote it in 1937.", "He lived in the U.S. for a while?", "No!", '"Yes."',
        "It cost $3.5 million, e.g. a lot.", "New paragraph without a stop"]


def test_segmentation_on_real_pages():
    bn = {d.title: d.text for d in iter_documents(BN40)}
    sents = split_sentences(bn["সৌরভ গঙ্গোপাধ্যায়"], "bn")
    assert ("সৌরভ গঙ্গোপাধ্যায় জন্মগ্রহণ করেন ৮ই জুলাই, ১৯৭২ সালে, কলকাতার বেহালায় একটি প্রতিষ্ঠিত পরিবারে।"
            in sents)
    assert "তিনি বিসিসিআই এর বর্তমান সভাপতি এবং উইসডেন ইন্ডিয়ার সভাপতি।" in sents
    paragraphs = [split_sentences(p, "bn") for t in bn.values() for p in t.split("\n\n")]
    all_bn = [s for p in paragraphs for s in p]
    # no split right after an abbreviation (a paragraph may end with one), none starts with a danda
    assert not [s for p in paragraphs for s in p[:-1] if s.endswith((" ড.", " খ্রি.", " মো.", " কি.মি."))]
    assert not [s for s in all_bn if s[0] in "।॥"]
    assert len(all_bn) > 3000
    en = {d.title: d.text for d in iter_documents(EN)}
    sents = split_sentences(en["Anarchism"], "en")
    assert sents[0] == ("Anarchism is a political philosophy that advocates self-governed societies based on "
                        "voluntary institutions.")
    paragraphs = [split_sentences(p, "en") for t in en.values() for p in t.split("\n\n")]
    assert not [s for p in paragraphs for s in p[:-1] if s.endswith((" Mr.", " Dr.", " St.", " e.g.", " i.e."))]
    assert sum(len(p) for p in paragraphs) > 5000
