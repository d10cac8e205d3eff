"""ONNX export with Optimum (fp32 + int8) gated by parity with PyTorch greedy output, on a real tiny model."""

import json
import shutil

import pytest

from _model_helpers import tiny_model, train_pairs  # noqa: F401  (fixtures)
from bilingual.commands import export_onnx as export_cmd
from bilingual.inference.export import (ONNX_FILES, ParityError, UnsupportedModelError, export_onnx,
                                       weightless_matmuls)
from bilingual.inference.translator import Translator

SRC = ["আমি অপেক্ষা করবো।", "টম মারা গেছে।", "নিশ্চই!"]


@pytest.fixture(scope="module")
def exported(tiny_model, train_pairs, tmp_path_factory):
    """The export command run once: fp32 + int8, parity sample = pairs the model knows."""
    sample = tmp_path_factory.mktemp("sample") / "sample.tsv"
    sample.write_text("".join(f"{p['en']}\t{p['bn']}\n" for p in train_pairs[:30]), encoding="utf-8")
    report = tmp_path_factory.mktemp("report") / "export.json"
    rc = export_cmd.main([str(tiny_model), "--quantize", "--sample", str(sample), "--n-sample", "60",
                          "--report", str(report), "--quiet"])
    assert rc == 0
    return tiny_model, json.loads(report.read_text(encoding="utf-8"))


def test_export_writes_self_contained_onnx_folders(exported):
    model_dir, report = exported
    for name in ("onnx", "onnx-int8"):
        folder = model_dir / name
        assert all((folder / f).is_file() for f in ONNX_FILES), sorted(p.name for p in folder.iterdir())
        assert (folder / "tokenizer.json").is_file() and (folder / "config.json").is_file()
        assert json.loads((folder / "parity.json").read_text())["passed"] is True
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".onnx")]  # no leftover temp folders
    assert report["onnx"]["n"] == 60 and report["onnx"]["identical"] >= 0.99
    assert report["onnx_int8"]["identical"] >= 0.95 and report["onnx_int8"]["chrf_drop"] <= 1.0


def test_onnx_loads_both_ways_and_matches_pytorch(exported):
    from optimum.onnxruntime import ORTModelForSeq2SeqLM
    from transformers import AutoTokenizer

    model_dir, _ = exported
    expected = Translator(model_dir, "pytorch").translate(SRC, "bn", "en")
    assert len(set(expected)) > 1 and all(expected)  # the model says different, non-empty things
    tok = AutoTokenizer.from_pretrained(model_dir / "onnx")
    enc = tok([f">>en<< {s}" for s in SRC], return_tensors="pt", padding=True)
    for model in (ORTModelForSeq2SeqLM.from_pretrained(model_dir, subfolder="onnx"),
                  ORTModelForSeq2SeqLM.from_pretrained(model_dir / "onnx")):
        assert model.use_cache  # decoder_with_past is in use
        out = tok.batch_decode(model.generate(**enc, max_new_tokens=64), skip_special_tokens=True)
        assert [o.strip() for o in out] == expected
    assert Translator(model_dir, "onnx").translate(SRC, "bn", "en") == expected
    assert Translator(model_dir, "onnx-int8").translate(SRC, "bn", "en", num_beams=3)  # beam search runs


def test_int8_quantizes_every_weight_matmul_and_no_attention_matmul(exported):
    """Weights (the tied output projection included) are int8; attention products of two activations stay fp32."""
    import onnx

    model_dir, _ = exported
    for name in ONNX_FILES:
        fp32 = onnx.load(str(model_dir / "onnx" / name)).graph
        int8 = onnx.load(str(model_dir / "onnx-int8" / name)).graph
        ops = [n.op_type for n in int8.node]
        attention = len(weightless_matmuls(model_dir / "onnx" / name)) - ("decoder" in name)  # minus lm_head
        assert attention > 0 and ops.count("MatMul") == attention, (name, ops.count("MatMul"), attention)
        quantized = sum(op in ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat") for op in ops)
        assert quantized == sum(n.op_type == "MatMul" for n in fp32.node) - attention, name


def test_failed_parity_fails_and_leaves_no_complete_folder(tiny_model, tmp_path):
    out = tmp_path / "onnx"
    with pytest.raises(ParityError) as err:
        # An impossible bar: every real export fails it, which exercises the failure path end to end.
        export_onnx(tiny_model, output_dir=out, n_sample=10, min_identical=1.01)
    assert "parity" in str(err.value) and err.value.result["n"] == 10
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_model_without_tokenizer_is_refused(tiny_model, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        shutil.copy(tiny_model / name, bare / name)
    assert export_cmd.main([str(bare), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no tokenizer" in err and str(bare) in err and "Traceback" not in err
    assert not (bare / "onnx").exists()


def test_unsupported_model_type_is_refused(tiny_model, tmp_path, capsys):
    """PLBart: a seq2seq model transformers 4.57 has but optimum-onnx 0.1.0 has no ONNX config for."""
    from optimum.exporters.onnx import main_export
    from transformers import AutoTokenizer, PLBartConfig, PLBartForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tiny_model)
    folder = tmp_path / "plbart"
    PLBartForConditionalGeneration(PLBartConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, pad_token_id=tok.pad_token_id,
        max_position_embeddings=64)).save_pretrained(folder)
    tok.save_pretrained(folder)
    with pytest.raises(Exception, match="plbart"):  # Optimum itself cannot do it either
        main_export(str(folder), output=tmp_path / "direct", task="text2text-generation-with-past")
    assert export_cmd.main([str(folder), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "'plbart' cannot be exported to ONNX" in err and "marian" in err
    with pytest.raises(UnsupportedModelError):
        export_onnx(folder)
    assert not (folder / "onnx").exists()
