import unicodedata

import pytest
from _modeling_helpers import shared_tokenizer_dir, tatoeba_pairs, write_dataset

from bilingual.modeling.langtags import TARGET_TAGS
from bilingual.modeling.tokenizer import train_tokenizer, train_tokenizer_from_parquet

# ZWJ in র‍্য (ya-phala after reph), ZWNJ, hasanta/virama, nukta (য + ় stays decomposed under NFC).
HARD_BANGLA = ["র\u200d্যাব", "কি\u200cন্তু", "ক্\u200cষ", "য\u09bc", "বাংলা ভাষা।"]


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(shared_tokenizer_dir())


def test_round_trip_through_auto_tokenizer(tmp_path):
    pairs = tatoeba_pairs(400)
    ds = write_dataset(tmp_path / "ds", pairs)
    fast = train_tokenizer_from_parquet(sorted((ds / "dataset").glob("train-*.parquet")), tmp_path / "tok",
                                        vocab_size=600)
    from transformers import AutoTokenizer

    back = AutoTokenizer.from_pretrained(tmp_path / "tok")
    texts = [p["bn"] for p in pairs[:50]] + [p["en"] for p in pairs[:50]] + HARD_BANGLA
    assert [fast(t)["input_ids"] for t in texts] == [back(t)["input_ids"] for t in texts]
    assert back.model_input_names == ["input_ids", "attention_mask"]
    assert "token_type_ids" not in back(["a b", "c"], padding=True)
    assert len(back) <= 600 and back.pad_token == "<pad>" and back.eos_token == "</s>" and back.unk_token == "<unk>"


def test_every_corpus_character_is_covered_and_text_comes_back(tok):
    pairs = tatoeba_pairs()
    texts = [p["bn"] for p in pairs] + [p["en"] for p in pairs]
    unk = tok.unk_token_id
    assert not [t for t in texts if unk in tok(t)["input_ids"]]
    for text in texts[:300] + texts[-300:]:
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == unicodedata.normalize("NFC", text)


def test_zero_width_joiners_nukta_hasanta_survive():
    tok = train_tokenizer(HARD_BANGLA * 3 + ["hello world"], vocab_size=80)
    for text in HARD_BANGLA:
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids, skip_special_tokens=True) == unicodedata.normalize("NFC", text)
    assert "\u200d" in tok.decode(tok("র\u200d্যাব")["input_ids"])


def test_language_tags_are_single_tokens_and_eos_is_appended(tok):
    for lang, tag in TARGET_TAGS.items():
        ids = tok(f"{tag} আমি ভাত খাই।")["input_ids"]
        assert ids[0] == tok.convert_tokens_to_ids(tag) != tok.unk_token_id
        assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 1
        assert tag not in tok.decode(ids, skip_special_tokens=True)
    assert tok(text_target="I eat rice.")["input_ids"][-1] == tok.eos_token_id


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no text"):
        train_tokenizer(["", ""], vocab_size=100)
    with pytest.raises(ValueError, match="smaller than"):
        train_tokenizer(["অআইঈউঊ abcdefghijklmnop"], vocab_size=10)
    with pytest.raises(FileNotFoundError, match="missing.parquet"):
        train_tokenizer_from_parquet([tmp_path / "missing.parquet"], tmp_path / "tok")


def test_train_tokenizer_command(tmp_path, capsys):
    from transformers import AutoTokenizer

    from bilingual.commands.train_tokenizer import main

    write_dataset(tmp_path / "ds", tatoeba_pairs(200))
    assert main(["--dataset_dir", str(tmp_path / "ds"), "--output_dir", str(tmp_path / "tok"),
                 "--vocab_size", "400", "--quiet"]) == 0
    assert "vocab_size" in capsys.readouterr().out
    assert len(AutoTokenizer.from_pretrained(tmp_path / "tok")) <= 400
    assert main(["--dataset_dir", str(tmp_path / "nothing"), "--output_dir", str(tmp_path / "t2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train-tokenizer: error:") and "nothing" in err and "\n" not in err
