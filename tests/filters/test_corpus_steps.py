"""Single steps on real text: normalization, PII, script share, numbers, junk, MinHash, the char LM."""

import unicodedata

import numpy as np
import pytest

from bilingual.filters.steps.dedup import jaccard, lsh_params, minhash_batch
from bilingual.filters.steps.perplexity import CharNgramLM
from bilingual.filters.steps.normalize import normalize_text
from bilingual.filters.steps.pii import PiiParams, scrub
from bilingual.filters.steps.numbers import numbers
from bilingual.filters.steps.script import script_share


def test_normalize_is_lossless_for_bengali():
    rab = "র\u200d্যাব"  # RAB with ZWJ: must survive
    text = f"  {rab}  বাহিনী ১২৩টি\tঅভিযান চালায়।\u200b\x07 "
    out = normalize_text(text)
    assert out == f"{rab} বাহিনী ১২৩টি অভিযান চালায়।"
    assert "\u200d" in out and "।" in out and "১২৩" in out
    # ZWNJ inside a word is kept, dangling ZWJ at a word edge is removed
    assert normalize_text("কি\u200cছু") == "কি\u200cছু"
    assert normalize_text("\u200dকিছু\u200d") == "কিছু"
    # decomposed o-kar (e-kar + aa-kar) composes under NFC
    assert normalize_text("ক\u09c7\u09be") == "ক\u09cb"
    assert unicodedata.is_normalized("NFC", normalize_text("e\u0301"))
    # opt-in repairs only when asked
    assert normalize_text("উৎ", khanda_ta=True) == "উৎ"
    assert normalize_text("উত\u09cd\u200d") == "উত\u09cd\u200d"
    assert normalize_text("উত\u09cd\u200d", khanda_ta=True) == "উ\u09ce"
    assert normalize_text("আমি যাই |", pipe_to_danda=True) == "আমি যাই।"


def test_pii_placeholders_and_counts():
    p, counts = PiiParams(), {}
    text = ("Write to rahim.uddin@example.com or call +880 1712-345678 or ০১৭১২৩৪৫৬৭৮; "
            "see https://facebook.com/rahim.uddin and https://www.who.int/news in 2020.")
    out = scrub(text, p, counts)
    assert "<EMAIL>" in out and "rahim.uddin@" not in out
    assert out.count("<PHONE>") == 2
    assert "<URL>" in out and "facebook.com" not in out
    assert "https://www.who.int/news" in out and "2020" in out
    assert counts == {"email": 1, "phone": 2, "url": 1}


def test_script_share_and_numbers():
    assert script_share("আমি ভাত খাই", "Bengali") == 1.0
    assert script_share("আমি rice খাই", "Bengali") < 0.8
    assert script_share("I eat rice", "Latin") == 1.0
    assert script_share("১২৩ !!", "Bengali") == 1.0  # no letters: not penalised (as OpusFilter)
    assert numbers("১৯৭১ সালে ৩০,০০০ জন") == numbers("30,000 people in 1971")
    assert numbers("১৯৭১") != numbers("1972")


def test_minhash_estimates_jaccard_and_lsh_params():
    a = "করোনাভাইরাসের লক্ষণগুলির মধ্যে রয়েছে জ্বর, কাশি এবং শ্বাসকষ্ট।"
    b = a.replace("কাশি", "হাঁচি")
    c = "Tatoeba is a collection of sentences and translations."
    sig = minhash_batch([a, b, c, a], num_perm=128, ngram=5, seed=1)
    assert (sig[0] == sig[3]).all()
    est_ab = np.mean(sig[0] == sig[1])
    assert abs(est_ab - jaccard(a, b)) < 0.15
    assert np.mean(sig[0] == sig[2]) < 0.1
    b_, r_ = lsh_params(0.8, 64)
    assert b_ * r_ <= 64 and b_ > 1


def test_char_lm_scores_garbage_higher_and_round_trips(tmp_path, samples):
    lines = [line.split("\t")[1] for line in (samples / "parallel" / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()]
    lm = CharNgramLM(order=4).fit(lines[:3000])
    held_out = lines[3000:3200]
    good = lm.perplexities(held_out)
    garbled = lm.perplexities(["".join(reversed(t)) for t in held_out])
    assert np.median(good) * 2 < np.median(garbled)
    assert lm.perplexity("asdf qwerty zxcv") > np.percentile(good, 99)
    path = lm.save(tmp_path / "lm.npz")
    assert np.allclose(CharNgramLM.load(path).perplexities(held_out), good)


@pytest.mark.parametrize("text", ["", "a"])
def test_char_lm_handles_tiny_inputs(text):
    lm = CharNgramLM(order=3).fit(["abc abd", "abc"])
    assert np.isfinite(lm.perplexity(text))


def test_langid_memo_gives_same_answers_when_it_overflows():
    from bilingual.langid import LanguageIdentifier, predict_fast
    from bilingual.filters.steps.langid import LangIdParams, _cached_predict

    model = LanguageIdentifier().model
    texts = ["আমি ভাত খাই।", "I eat rice.", "Ich esse Reis.", "আমি ভাত খাই।", "Je mange du riz."] * 3
    p = LangIdParams(cache_size=3)
    first = _cached_predict(model, texts[:4], p)
    again = _cached_predict(model, texts, p)  # cache overflows and is rebuilt mid-way
    assert again == predict_fast(model, texts) and first == again[:4]
