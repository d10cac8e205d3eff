"""The `numbers` step on real sentence pairs: numbers agree however each side writes them, and one
changed number is still caught."""

import pytest
from datasets import Dataset

from bilingual.filters.pipeline import Pipeline
from bilingual.filters.steps.numbers import agreement, numbers, read_numbers

AGREE = [
    # number words against digits (NTREX / TICO-19 style)
    ("তিনটি মৌসুম ধরে তিনি খেলেছেন।", "He played for three seasons."),
    ("৩ বছর ধরে", "for three years"),
    ("সে সাতটি বই কিনেছে।", "She bought 7 books."),
    ("৭টি দল অংশ নেয়।", "Seven teams took part."),
    ("১৪ জন মানুষ আহত হন।", "Fourteen people were injured."),
    ("দুই হাজার পাঁচশো মানুষ", "2,500 people"),
    ("একশো পাঁচ জন", "105 people"),
    ("প্রথম বিশ্বযুদ্ধ", "the 1st World War"),
    ("২১তম শতাব্দী", "the 21st century"),
    ("১৯ শতকে", "in the 19th century"),
    # times
    ("রবিবার সকাল সাড়ে ৯টার দিকে", "at about 9:30 am on Sunday"),
    ("রাত সাড়ে ৯টা", "9:30 pm"),
    ("৯:৩০ মিনিটে", "at 9:30"),
    ("০২:৩০ এ", "at 0230 UTC"),
    ("বিকাল ৩ টায়", "at 3 p.m."),
    ("সকাল সাতটার আগে", "just before 7 a.m."),
    ("সকাল ৭ টা ৫৫ মিনিটে", "at 7.55am"),
    ("বাংলাদেশ সময় ১৯ঃ৩০ মিনিটে", "at about 19:30 BST"),
    ("সোয়া ১০টায়", "at about 10:15"),
    # decimals, percentages, grouping
    ("৩.৫ শতাংশ", "3.5 percent"),
    ("৫০%", "fifty percent"),
    ("১,০০,০০০ জন", "100,000 people"),
    ("৩০,০০০ জন", "30,000 people"),
    # lakh/crore against million/billion
    ("৫১ কোটি ৭৬ লাখ টাকা", "$51.76 crore"),
    ("৫০ লাখ মানুষ", "5 million people"),
    ("২ লাখ", "200,000"),
    ("১.৫ মিলিয়ন পাউন্ড", "£1.5 million"),
    ("১১ মিলিয়ন পাউন্ডের সম্পদ", "£11million fortune"),
    ("৩.১ বিলিয়ন পাউন্ড-এ (৩.৬ বিলিয়ন ডলার)", "€3.1billion ($3.6bn)"),
    ("২৪৪ হাজারেরও বেশি", "over 244 thousand"),
    ("৫ হাজার", "five thousand"),
    ("১ মাইল দূরে", "a mile away"),
    # mixed
    ("কোভিড-১৯ এর কারণে ২০২০ সালের ১০ এপ্রিল পর্যন্ত ১.৬১ মিলিয়ন কেস", "1.61 million COVID-19 cases as of 10 April 2020"),
]

DISAGREE = [
    ("তিনি ১৯৭১ সালে জন্মগ্রহণ করেন।", "He was born in 1972."),
    ("৫১ কোটি ৭৬ লাখ টাকা", "$51.67 crore"),
    ("৫০ লাখ মানুষ", "50 million people"),
    ("রাত সাড়ে ৯টা", "10:30 pm"),
    ("৩.৫ শতাংশ", "3.6 percent"),
    ("৩ বছর ধরে", "for 4 years"),
    ("সাতটি বই", "8 books"),
    ("২০১৯ সালে ৪৪ জন", "44 people in 2018"),
]


@pytest.mark.parametrize("bn,en", AGREE)
def test_numbers_agree_across_scripts_words_times_and_scales(bn, en):
    assert agreement(bn, en) == 1.0, (read_numbers(bn), read_numbers(en))


@pytest.mark.parametrize("bn,en", DISAGREE)
def test_one_changed_number_is_caught(bn, en):
    assert agreement(bn, en) < 1.0


def test_words_alone_never_count_against_a_pair():
    # "একটি" / "a", "নয়" ("is not") and "one" are often not numbers: words only help the other side
    assert agreement("এটি একটি বই নয়।", "It is not a book.") == 1.0
    assert agreement("তিনটি", "two") == 1.0
    assert numbers("১৯৭১ সালে ৩০,০০০ জন") == numbers("30,000 people in 1971") == ["1971", "30000"]


def test_step_rejects_with_a_reason_and_keeps_the_score():
    rows = [AGREE[0], AGREE[11], DISAGREE[0], ("কোনো সংখ্যা নেই।", "No numbers here.")]
    ds = Dataset.from_dict({"bn": [b for b, _ in rows], "en": [e for _, e in rows]})
    result = Pipeline.from_recipe({"steps": [{"step": "numbers"}]}).run(ds)
    assert result.stats["kept"] == 3
    assert result.rejects["reject_reason"] == ["number_mismatch"]
    assert result.rejects["en"] == ["He was born in 1972."]
    assert result.kept["number_agreement"] == [1.0, 1.0, 1.0]
