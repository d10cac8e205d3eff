"""HFTransformerModel: presets sized to our tokenizer, save/load round-trips, and the pretrained path
(tiny random mBART-50 / mT5 / OPUS-MT Marian checkpoints with real tokenizer files, fine-tuned a few steps)."""

import json

import pytest
import torch
from _modeling_helpers import (build_marian_opus, build_mbart50, build_mt5, shared_tokenizer_dir, tatoeba_pairs,
                               tiny_config, write_dataset)

from bilingual.modeling import langtags
from bilingual.modeling.model import PRESETS, HFTransformerModel
from bilingual.modeling.train import train
from bilingual.inference.translator import Translator


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(shared_tokenizer_dir())


def test_preset_is_sized_to_tokenizer_shares_embeddings_and_round_trips(tokenizer, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    hf = HFTransformerModel.from_preset("tiny", tokenizer, seed=0)
    m = hf.model
    assert m.config.vocab_size == len(tokenizer) and hf.style == "tag"
    shared = m.get_input_embeddings().weight
    assert m.model.encoder.embed_tokens.weight is shared and m.model.decoder.embed_tokens.weight is shared
    assert m.get_output_embeddings().weight is shared
    unique = {id(p): p.numel() for p in m.parameters()}
    assert hf.num_parameters() == sum(unique.values()) == m.num_parameters()
    assert hf.describe()["parameters"] == hf.num_parameters()

    hf.save(tmp_path / "m")
    back = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "m").eval()
    tok2 = AutoTokenizer.from_pretrained(tmp_path / "m")
    batch = tok2([">>bn<< I am here.", ">>en<< আমি এখানে।"], return_tensors="pt", padding=True)
    m.eval()
    with torch.no_grad():
        a = m(**batch, decoder_input_ids=batch["input_ids"][:, :3]).logits
        b = back(**batch, decoder_input_ids=batch["input_ids"][:, :3]).logits
    assert torch.equal(a, b)
    assert HFTransformerModel.load(tmp_path / "m").preset == "tiny"


def test_preset_sizes_grow_and_base_is_marian_base(tokenizer):
    sizes = {name: HFTransformerModel.from_preset(name, tokenizer).num_parameters() for name in ("tiny", "small")}
    assert sizes["tiny"] < sizes["small"]
    base = PRESETS["base"]
    assert (base.d_model, base.encoder_layers, base.decoder_layers, base.ffn_dim) == (512, 6, 6, 2048)
    with pytest.raises(ValueError, match="unknown preset"):
        HFTransformerModel.from_preset("huge", tokenizer)


def test_pretrained_needs_a_local_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a local checkpoint folder"):
        HFTransformerModel.from_pretrained(tmp_path / "facebook-mbart-large-50")


@pytest.fixture(scope="module")
def pairs_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained-ds")
    return write_dataset(root, tatoeba_pairs(48), tatoeba_pairs(8, seed=1))


@pytest.mark.parametrize("family", ["mbart50", "mt5", "marian"])
def test_pretrained_checkpoint_loads_fine_tunes_and_saves(family, tmp_path, pairs_dataset):
    build = {"mbart50": build_mbart50, "mt5": build_mt5, "marian": build_marian_opus}[family]
    ckpt = build(tmp_path / family, tatoeba_pairs(300))
    hf = HFTransformerModel.from_pretrained(ckpt)
    expected_style = {"mbart50": "forced_bos", "mt5": "prefix", "marian": "tag"}[family]
    assert hf.style == expected_style

    # Language handling follows langtags: mBART forces the target code, mT5 prefixes, Marian tags.
    enc = hf.encode_pair(["I am here."], ["আমি এখানে।"], "en", "bn")
    first_label = hf.tokenizer.convert_ids_to_tokens(enc["labels"][0][0])
    first_source = hf.tokenizer.convert_ids_to_tokens(enc["input_ids"][0][0])
    if family == "mbart50":
        assert (first_source, first_label) == ("en_XX", "bn_IN")
        assert hf.generation_kwargs("bn")["forced_bos_token_id"] == hf.tokenizer.convert_tokens_to_ids("bn_IN")
    elif family == "marian":
        assert first_source == ">>bn<<"
    else:
        assert hf.prepare_sources(["x"], "en", "bn")[0].startswith("translate English to Bengali:")

    before = {k: v.clone() for k, v in hf.model.state_dict().items()}
    cfg = tiny_config(pairs_dataset, tmp_path / "run", max_steps=4, eval_steps=2, save_steps=2, learning_rate=5e-3)
    cfg.update(model_name_or_path=str(ckpt), tokenizer_name=None, max_eval_samples=4)
    result = train(cfg)
    assert result["model_type"] == hf.model_type and result["global_step"] == 4
    losses = [h["loss"] for h in result["log_history"] if "loss" in h]
    assert len(losses) == 2 and all(l == l for l in losses)  # logged, not NaN

    from transformers import AutoModelForSeq2SeqLM

    tuned = AutoModelForSeq2SeqLM.from_pretrained(result["output_dir"])
    changed = [k for k, v in tuned.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert changed, "fine-tuning did not change any weight"
    out = Translator(result["output_dir"]).translate(["I am here.", "Go."], "en", "bn", max_new_tokens=6)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    if family == "mbart50":
        tr = Translator(result["output_dir"])
        ids = tr.model.generate(**tr.tokenizer(langtags.prepare_sources(["Go."], "en", "bn", tr.tokenizer),
                                               return_tensors="pt"),
                                max_new_tokens=4, **langtags.generation_kwargs("bn", tr.tokenizer))
        assert ids[0, 1].item() == tr.tokenizer.convert_tokens_to_ids("bn_IN")
    meta = json.loads((tmp_path / "run" / "bilingual_model.json").read_text())
    assert meta["parameters"] == result["parameters"] == hf.num_parameters()
