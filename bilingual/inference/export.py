"""ONNX export (Optimum, with past key values), int8 dynamic quantization, and the parity check that gates them.

Layout written beside the PyTorch weights (each folder self-contained: config, generation config, tokenizer):

    model_dir/onnx/       encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx
    model_dir/onnx-int8/  the same three files, dynamically quantized (ORTQuantizer; weight MatMuls int8)

so `ORTModelForSeq2SeqLM.from_pretrained(model_dir, subfolder="onnx")` and `.from_pretrained(model_dir / "onnx")`
both load. An export is built in a hidden temporary folder, checked against PyTorch greedy outputs on a sample
and only then renamed into place: a failed check leaves no folder that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

from bilingual import storage
from bilingual.modeling import langtags
from bilingual.inference.translator import MissingArtifactError, Translator, has_tokenizer
from bilingual.layout import PARALLEL_SAMPLES

ONNX_FILES = ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")
TASK = "text2text-generation-with-past"
DEFAULT_SAMPLE = PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv"

# Parity thresholds from issue 7: fp32 must reproduce PyTorch greedy output; int8 may differ a little.
FP32_MIN_IDENTICAL = 0.99
INT8_MIN_IDENTICAL = 0.95
INT8_MAX_CHRF_DROP = 1.0


class ExportError(RuntimeError):
    """An export that cannot be made or that failed its check; the message says what and where."""


class UnsupportedModelError(ExportError):
    pass


class ParityError(ExportError):
    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


# --------------------------------------------------------------------------------------------- folders
@contextlib.contextmanager
def staged_dir(final):
    """Yield an empty hidden folder beside `final`; on success it replaces `final`, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def copy_side_files(model_dir, dest, config: bool = True) -> None:
    """Config, generation config and tokenizer files, so an artifact folder loads on its own
    (`config=False` for CTranslate2, whose own config.json must stay)."""
    from transformers import AutoConfig, GenerationConfig

    model_dir, dest = Path(model_dir), Path(dest)
    if config:
        AutoConfig.from_pretrained(model_dir).save_pretrained(dest)
    with contextlib.suppress(OSError):
        GenerationConfig.from_pretrained(model_dir).save_pretrained(dest)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model_dir).save_pretrained(dest)


def check_model_dir(model_dir) -> Path:
    """A folder with config.json, weights and a tokenizer, or a clear error naming what is missing."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise MissingArtifactError(f"{model_dir}: no such model folder")
    if not (model_dir / "config.json").exists():
        raise MissingArtifactError(f"{model_dir}: no config.json (not a saved transformers model folder)")
    if not any(model_dir.glob("*.safetensors")) and not any(model_dir.glob("pytorch_model*.bin")):
        raise MissingArtifactError(f"{model_dir}: no model weights (model.safetensors / pytorch_model.bin)")
    if not has_tokenizer(model_dir):
        raise MissingArtifactError(f"{model_dir}: no tokenizer (tokenizer.json / tokenizer_config.json); "
                                   "save it with tokenizer.save_pretrained(model_dir) before exporting")
    return model_dir


def check_onnx_support(model_dir) -> str:
    """The model type, if Optimum can export it for seq2seq generation with past; else UnsupportedModelError."""
    import optimum.exporters.onnx.model_configs  # noqa: F401  (registers the ONNX configs)
    from optimum.exporters.tasks import TasksManager
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(model_dir).model_type
    try:
        tasks = TasksManager.get_supported_tasks_for_model_type(model_type, exporter="onnx",
                                                                library_name="transformers")
    except KeyError:
        tasks = {}
    if TASK not in tasks:
        supported = sorted(t for t, by_exporter in TasksManager._SUPPORTED_MODEL_TYPE.items()
                           if TASK in by_exporter.get("onnx", {}))
        raise UnsupportedModelError(
            f"{model_dir}: model type {model_type!r} cannot be exported to ONNX for {TASK} by Optimum "
            f"(supported seq2seq types: {', '.join(supported)})")
    return model_type


# --------------------------------------------------------------------------------------------- parity
def _script_lang(text: str) -> str:
    return "bn" if any("\u0980" <= ch <= "\u09ff" for ch in text) else "en"


def parity_sample(sample_texts=None, n: int = 100) -> list[dict]:
    """Items {text, src, tgt, ref} for the parity check.

    `sample_texts`: None (the first `n` bundled Tatoeba pairs, both directions, with references), a list of
    {bn, en} dicts (both directions, with references) or a list of strings (direction from the script, no reference)."""
    if sample_texts is None:
        from bilingual.sources.corpora.readers import read_tsv

        sample_texts = []
        for row in read_tsv(DEFAULT_SAMPLE):
            if row["bn"] and row["en"]:
                sample_texts.append({"bn": row["bn"], "en": row["en"]})
            if len(sample_texts) >= (n + 1) // 2:
                break
    items = []
    for s in sample_texts:
        if isinstance(s, str):
            src = _script_lang(s)
            items.append({"text": s, "src": src, "tgt": langtags.other(src), "ref": None})
        else:
            items.append({"text": s["bn"], "src": "bn", "tgt": "en", "ref": s["en"]})
            items.append({"text": s["en"], "src": "en", "tgt": "bn", "ref": s["bn"]})
    return items[:n] if n else items


def greedy_outputs(translator: Translator, items: Sequence[dict], max_new_tokens: int = 64,
                   batch_size: int = 16) -> list[str]:
    """Greedy translations of `items` (grouped by direction), in item order."""
    out: list[str] = [""] * len(items)
    for src, tgt in {(it["src"], it["tgt"]) for it in items}:
        idx = [i for i, it in enumerate(items) if (it["src"], it["tgt"]) == (src, tgt)]
        hyps = translator.translate([items[i]["text"] for i in idx], src, tgt, num_beams=1,
                                    batch_size=batch_size, max_new_tokens=max_new_tokens)
        for i, h in zip(idx, hyps):
            out[i] = h
    return out


def compare(reference_hyps: Sequence[str], hyps: Sequence[str], items: Sequence[dict], min_identical: float,
            max_chrf_drop: Optional[float] = None) -> dict:
    """Share of identical sequences and the chrF change, against references where given, else PyTorch output."""
    from sacrebleu.metrics import CHRF

    n = len(hyps)
    same = sum(a == b for a, b in zip(reference_hyps, hyps))
    refs = [it["ref"] if it.get("ref") is not None else r for it, r in zip(items, reference_hyps)]
    chrf_pt = CHRF().corpus_score(list(reference_hyps), [refs]).score
    chrf = CHRF().corpus_score(list(hyps), [refs]).score
    identical = same / n if n else 0.0
    passed = n > 0 and identical >= min_identical and (max_chrf_drop is None or chrf_pt - chrf <= max_chrf_drop)
    mismatches = [{"src": it["text"], "pytorch": a, "export": b}
                  for it, a, b in zip(items, reference_hyps, hyps) if a != b][:5]
    return {"identical": round(identical, 4), "n": n, "chrf": round(chrf, 2), "chrf_pytorch": round(chrf_pt, 2),
            "chrf_drop": round(chrf_pt - chrf, 2), "min_identical": min_identical, "max_chrf_drop": max_chrf_drop,
            "passed": passed, "mismatches": mismatches}


def _parity_or_raise(name: str, path: Path, result: dict) -> dict:
    if not result["passed"]:
        why = f"{result['identical']:.1%} identical (need ≥ {result['min_identical']:.0%})"
        if result.get("max_chrf_drop") is not None:
            why += f", chrF {result['chrf']:.2f} vs PyTorch {result['chrf_pytorch']:.2f} " \
                   f"(allowed drop {result['max_chrf_drop']})"
        raise ParityError(f"{name} export failed its parity check against PyTorch greedy output on "
                          f"{result['n']} sentences: {why}; nothing was written to {path}", result)
    return result


class Reference:
    """PyTorch greedy outputs on the parity sample, computed once and shared by every artifact's check."""

    def __init__(self, model_dir, sample_texts=None, n: int = 100, max_new_tokens: int = 64):
        self.items = parity_sample(sample_texts, n)
        self.max_new_tokens = max_new_tokens
        self.hyps = greedy_outputs(Translator(model_dir, "pytorch"), self.items, max_new_tokens)

    def check(self, translator: Translator, min_identical: float, max_chrf_drop: Optional[float] = None) -> dict:
        hyps = greedy_outputs(translator, self.items, self.max_new_tokens)
        return compare(self.hyps, hyps, self.items, min_identical, max_chrf_drop)


# --------------------------------------------------------------------------------------------- export
def _export_fp32(model_dir: Path, dest: Path) -> None:
    from optimum.exporters.onnx import main_export

    main_export(str(model_dir), output=dest, task=TASK, device="cpu", library_name="transformers",
                do_validation=False, local_files_only=True)
    missing = [f for f in ONNX_FILES if not (dest / f).exists()]
    if missing:
        raise ExportError(f"Optimum export of {model_dir} produced no {', '.join(missing)} in {dest}")
    for extra in dest.glob("decoder_model_merged*.onnx"):  # not used: we load the split decoders
        extra.unlink()


QUANTIZATION = "dynamic int8 (avx2 u8/u8) of weight MatMuls, after ORT quantization pre-processing"


def weightless_matmuls(onnx_path: Path) -> list[str]:
    """MatMul nodes whose right-hand side is not a stored weight (attention scores and context).

    ORT's own `quantize_dynamic` leaves these in fp32 (`MatMulConstBOnly`), but `ORTQuantizer` does not: it
    re-quantizes both activations at every call: a third of the decoder's step time on the benchmark's small
    Marian (BENCHMARKS.md, issue 7), and added error for no saving in size."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] not in weights]


def _quantize(onnx_dir: Path, dest: Path) -> None:
    """Dynamic int8 quantization of the weight MatMuls of each ONNX file in `onnx_dir`, written to `dest`.

    ORT's pre-processing (constant folding, shape inference) runs first so that the tied output projection,
    exported as MatMul(x, Transpose(shared embedding)), becomes a plain weight the quantizer can see."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    for name in ONNX_FILES:
        work = dest / f".q-{Path(name).stem}"
        work.mkdir()
        if (onnx_dir / "config.json").exists():  # lets ORTQuantizer find the model type (else it warns)
            shutil.copy(onnx_dir / "config.json", work)
        big = (onnx_dir / f"{name}_data").exists()  # > 2 GB models keep their weights beside the graph
        quant_pre_process(str(onnx_dir / name), str(work / name), skip_symbolic_shape=True,
                          save_as_external_data=big, all_tensors_to_one_file=True,
                          external_data_location=f"{name}_data" if big else None)
        config = AutoQuantizationConfig.avx2(is_static=False, per_channel=False,
                                             nodes_to_exclude=weightless_matmuls(work / name))
        ORTQuantizer.from_pretrained(work, file_name=name).quantize(save_dir=work, quantization_config=config)
        os.replace(next(work.glob("*_quantized.onnx")), dest / name)
        shutil.rmtree(work)


def export_onnx(model_dir, output_dir=None, quantize: bool = False, sample_texts=None, n_sample: int = 100,
                max_new_tokens: int = 64, min_identical: float = FP32_MIN_IDENTICAL,
                min_identical_int8: float = INT8_MIN_IDENTICAL, max_chrf_drop_int8: float = INT8_MAX_CHRF_DROP,
                reference: Optional[Reference] = None) -> dict:
    """Export `model_dir` to ONNX (`output_dir`, default `model_dir/onnx`), check parity, optionally quantize.

    Returns {"dir", "identical", "n", "passed", "chrf", "chrf_pytorch", "chrf_drop", "files", ...}; with
    `quantize` also "int8": the same keys for `<output_dir>-int8`. Raises ParityError (after removing the
    unfinished folder), UnsupportedModelError or MissingArtifactError."""
    model_dir = check_model_dir(model_dir)
    check_onnx_support(model_dir)
    output_dir = Path(output_dir) if output_dir else model_dir / "onnx"
    reference = reference or Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    with staged_dir(output_dir) as tmp:
        _export_fp32(model_dir, tmp)
        copy_side_files(model_dir, tmp)
        result = reference.check(Translator(tmp, "onnx"), min_identical)
        result.update(dir=str(output_dir), files=sorted(p.name for p in tmp.glob("*.onnx")))
        _parity_or_raise("ONNX fp32", output_dir, result)
        storage.write_json(tmp / "parity.json", {**result, "dir": output_dir.name})  # no local path
    if quantize:
        int8_dir = output_dir.parent / f"{output_dir.name}-int8"
        with staged_dir(int8_dir) as tmp:
            _quantize(output_dir, tmp)
            copy_side_files(model_dir, tmp)
            q = reference.check(Translator(tmp, "onnx-int8"), min_identical_int8, max_chrf_drop_int8)
            q.update(dir=str(int8_dir), files=sorted(p.name for p in tmp.glob("*.onnx")), quantization=QUANTIZATION)
            _parity_or_raise("ONNX int8", int8_dir, q)
            storage.write_json(tmp / "parity.json", {**q, "dir": int8_dir.name})  # no local path
        result["int8"] = q
    return result


def export_all(model_dir, onnx: bool = True, quantize: bool = True, ctranslate2: bool = True, sample_texts=None,
               n_sample: int = 100, max_new_tokens: int = 64) -> dict:
    """Every serving artifact with one shared PyTorch reference; shaped like report.json's "export" section:
    {"onnx": {...}, "onnx_int8": {...}, "ctranslate2": {...}}. Stops at the first failed check (ParityError)."""
    model_dir = check_model_dir(model_dir)
    if onnx:
        check_onnx_support(model_dir)
    reference = Reference(model_dir, sample_texts, n_sample, max_new_tokens)
    report: dict = {}
    if onnx:
        result = export_onnx(model_dir, quantize=quantize, reference=reference)
        int8 = result.pop("int8", None)
        report["onnx"] = result
        if int8:
            report["onnx_int8"] = int8
    if ctranslate2:
        from bilingual.inference.ctranslate2 import convert_ctranslate2

        report["ctranslate2"] = convert_ctranslate2(model_dir, reference=reference)
    return report
