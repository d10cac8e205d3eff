"""CTranslate2 conversion of the Marian model and the Translator's ct2 backend, gated by the same parity check."""

import json

import pytest

from _model_helpers import tiny_model, train_pairs  # noqa: F401  (fixtures)
from bilingual.inference.ctranslate2 import convert_ctranslate2
from bilingual.inference.export import Reference, UnsupportedModelError
from bilingual.inference.translator import MissingArtifactError, Translator


@pytest.fixture(scope="module")
def reference(tiny_model, train_pairs):
    return Reference(tiny_model, train_pairs[:30])


def test_float32_conversion_reproduces_pytorch(tiny_model, reference, tmp_path):
    out = tmp_path / "ct2-f32"
    result = convert_ctranslate2(tiny_model, output_dir=out, quantization="float32", reference=reference)
    assert result["passed"] and result["n"] == 60 and result["identical"] >= 0.99
    assert (out / "model.bin").is_file() and (out / "tokenizer.json").is_file()
    assert json.loads((out / "config.json").read_text())["decoder_start_token"] == "<pad>"
    ct2 = Translator(out, "ctranslate2")
    pt = Translator(tiny_model, "pytorch")
    src = ["I'll wait.", "Tom died.", "Of course!"]
    assert ct2.translate(src, "en", "bn") == pt.translate(src, "en", "bn")
    beams = ct2.translate(src, "en", "bn", num_beams=4)
    assert len(beams) == 3 and all(beams)
    # A fixed output length (the benchmark setting) is honoured: no early end of sentence, and the same
    # number of tokens as transformers (which spends the last step on the forced EOS).
    fixed = ct2.translate(["Go."], "en", "bn", max_new_tokens=12, min_new_tokens=12)[0]
    assert len(ct2.tokenizer(fixed, add_special_tokens=False)["input_ids"]) >= 6
    assert fixed == pt.translate(["Go."], "en", "bn", max_new_tokens=12, min_new_tokens=12)[0]
    # Translations cut at the length cap end where transformers' end: same text, greedy and beam search.
    long = ["Tom and Mary said that they would wait for us at the station until the evening train came."]
    for beams in (1, 3):
        capped = pt.translate(long, "en", "bn", max_new_tokens=4, num_beams=beams)
        assert len(pt.tokenizer(capped[0], add_special_tokens=False)["input_ids"]) >= 2  # really cut, not ended
        assert ct2.translate(long, "en", "bn", max_new_tokens=4, num_beams=beams) == capped


def test_int8_conversion_passes_parity_and_serves(tiny_model, reference):
    """int8 (the serving default) keeps ≥ 95% of PyTorch's greedy outputs and chrF within 1 point."""
    result = convert_ctranslate2(tiny_model, reference=reference)
    assert result["quantization"] == "int8" and result["passed"]
    assert result["identical"] >= 0.95 and result["chrf_drop"] <= 1.0
    target = tiny_model / "ctranslate2"
    assert (target / "model.bin").is_file() and json.loads((target / "parity.json").read_text())["n"] == 60
    assert not [p for p in tiny_model.iterdir() if p.name.startswith(".ctranslate2")]
    out = Translator(tiny_model, "ctranslate2").translate(["I'll wait.", "Tom died."], "en", "bn", num_beams=2)
    assert all(out) and out[0] != out[1]


def test_evaluation_on_ct2_matches_pytorch(tiny_model, train_pairs, reference):
    from bilingual.evaluation import evaluate_model

    if not (tiny_model / "ctranslate2" / "model.bin").exists():
        convert_ctranslate2(tiny_model, reference=reference)
    pairs = train_pairs[:16]
    ct2 = evaluate_model(tiny_model, pairs, backend="ctranslate2", num_beams=4, batch_size=8)
    pt = evaluate_model(tiny_model, pairs, backend="pytorch", num_beams=4, batch_size=8)
    assert ct2["bn-en"]["backend"] == "ctranslate2" and ct2["en-bn"]["n"] == 16
    for d in ("bn-en", "en-bn"):
        assert abs(ct2[d]["chrf"] - pt[d]["chrf"]) <= 5.0 and ct2[d]["chrf"] > 25


def test_ct2_backend_without_conversion_says_what_to_run(tmp_path, tiny_model):
    with pytest.raises(MissingArtifactError, match="ctranslate2"):
        Translator(tmp_path, "ctranslate2")


def test_unsupported_model_type_for_ct2(tmp_path, tiny_model):
    from transformers import AutoTokenizer, PLBartConfig, PLBartForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tiny_model)
    PLBartForConditionalGeneration(PLBartConfig(vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1,
                                                encoder_attention_heads=2, decoder_attention_heads=2,
                                                encoder_ffn_dim=32, decoder_ffn_dim=32)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match="plbart"):
        convert_ctranslate2(tmp_path)
