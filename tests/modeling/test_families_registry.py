"""The model-family registry: lookup by config / model type / tokenizer, the NLLB-vs-M2M100 choice, each
family's language convention on its real tokenizer type, and adding a family as one entry."""

import dataclasses
import json

import pytest
from _modeling_helpers import BUILDERS, shared_tokenizer_dir, tatoeba_pairs

from bilingual.modeling import families
from bilingual.modeling.families import FAMILIES, Family, UnknownFamilyError, family_for, family_for_tokenizer

EXPECTED = {  # family: (first source token en→bn, first label token, forced BOS token or None)
    "marian": (">>bn<<", None, None),
    "mbart50": ("en_XX", "bn_IN", "bn_IN"),
    "nllb": ("eng_Latn", "ben_Beng", "ben_Beng"),
    "m2m100": ("__en__", "__bn__", "__bn__"),
    "t5": (None, None, None),      # a text prefix: checked on the prepared text
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    pairs = tatoeba_pairs(300)
    return {name: build(root / name, pairs) for name, build in BUILDERS.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_family_speaks_its_convention_on_its_real_tokenizer(name, checkpoints):
    from transformers import AutoConfig, AutoTokenizer

    path = checkpoints[name]
    config, tok = AutoConfig.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    fam = family_for(config, tok)
    assert fam.name == name and family_for_tokenizer(tok).name == name
    assert families.family_of_dir(path).name == name               # without loading the tokenizer
    assert type(tok).__name__.removesuffix("Fast") == fam.tokenizer_class.removesuffix("Fast")
    first_src, first_label, forced = EXPECTED[name]
    enc = fam.encode(tok, ["I am here."], ["আমি এখানে।"], "en", "bn")
    if first_src:
        assert tok.convert_ids_to_tokens(enc["input_ids"][0])[0] == first_src
    else:
        assert fam.prepare_sources(["I am here."], "en", "bn", tok) == ["translate English to Bengali: I am here."]
    if first_label:
        assert tok.convert_ids_to_tokens(enc["labels"][0])[0] == first_label
    kwargs = fam.generate_kwargs(tok, "bn")
    assert kwargs.get("forced_bos_token_id") == (tok.convert_tokens_to_ids(forced) if forced else None)
    assert fam.ct2_target_prefix(tok, "bn") == ([forced] if forced else None)
    # the other direction too
    back = fam.prepare_sources(["আমি এখানে।"], "bn", "en", tok)
    ids = tok(back)["input_ids"][0]
    if name == "marian":
        assert back[0].startswith(">>en<<")
    elif forced:
        assert tok.convert_ids_to_tokens(ids)[0] == fam.code("bn")
    else:
        assert back[0].startswith("translate Bengali to English:")
    import ctranslate2.converters.transformers as ct2_loaders

    assert hasattr(ct2_loaders, fam.ct2_converter) and fam.card_tags


def test_our_tokenizer_is_marian_family_and_lookup_errors_name_the_problem():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(shared_tokenizer_dir())
    assert family_for_tokenizer(tok).name == "marian"
    assert family_for("marian").prepare_sources(["Go."], "en", "bn", tok) == [">>bn<< Go."]
    with pytest.raises(UnknownFamilyError, match="model type 'gpt2' is not supported.*FAMILIES"):
        family_for("gpt2")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        family_for("marian").prepare_sources(["x"], "en", "fr", tok)
    # NLLB and M2M100 share model_type m2m_100: the config's tokenizer_class decides without a tokenizer
    assert family_for({"model_type": "m2m_100", "tokenizer_class": "M2M100Tokenizer"}).name == "m2m100"
    assert family_for({"model_type": "m2m_100", "tokenizer_class": "NllbTokenizer"}).name == "nllb"


def test_adding_a_family_is_one_entry(monkeypatch):
    pegasus = Family(name="pegasus-x", model_types=("pegasus_x",), style="prefix", tokenizer_class="PegasusTokenizer",
                     ct2_converter="PegasusLoader", card_tags=("pegasus",))
    monkeypatch.setitem(FAMILIES, pegasus.name, pegasus)
    assert family_for("pegasus_x") is pegasus
    assert family_for({"model_type": "pegasus_x", "d_model": 8}).architecture({"d_model": 8})["d_model"] == 8
    assert dataclasses.is_dataclass(pegasus)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_card_names_and_tags_each_family_from_the_registry(name, checkpoints):
    """The model card reads the family's name, tags and architecture facts from the registry."""
    from bilingual.publishing.cards import build_model_card

    card = build_model_card(checkpoints[name], {})
    fam = FAMILIES[name]
    assert f"| family | {fam.card_name} |" in card.text
    assert set(fam.card_tags) <= set(card.data.tags)
    config = (checkpoints[name] / "config.json").read_text()
    vocab = families.architecture(json.loads(config))["vocab_size"]
    assert f"| vocabulary size | {vocab} |" in card.text


def test_a_new_family_reaches_the_card_without_a_card_edit(monkeypatch, tmp_path):
    from transformers import BartConfig

    from bilingual.publishing.cards import build_model_card

    bart = Family(name="bart", model_types=("bart",), style="prefix", tokenizer_class="BartTokenizer",
                  ct2_converter="BartLoader", card_tags=("bart", "denoising"), card_name="BART (task prefix)")
    BartConfig(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
               decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
               max_position_embeddings=32).save_pretrained(tmp_path)
    before = build_model_card(tmp_path, {})          # a model type no family covers: config facts only
    assert "| family |" not in before.text and "denoising" not in before.data.tags
    assert "| encoder layers | 1 |" in before.text
    monkeypatch.setitem(FAMILIES, bart.name, bart)
    after = build_model_card(tmp_path, {})
    assert "| family | BART (task prefix) |" in after.text
    assert {"bart", "denoising"} <= set(after.data.tags)
    assert "| hidden size (d_model) | 16 |" in after.text and "| feed-forward size | 32 |" in after.text
