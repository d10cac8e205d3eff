"""The model card (README.md of the model repo), generated from a run's report and the model's files.

Every number in the card comes from `report.json` (see the "run report" contract) or from the model folder
itself (config.json, the safetensors header, the tokenizer); a section whose data is missing says so
instead of guessing. The YAML metadata is built with huggingface_hub's `ModelCardData`/`EvalResult`, so
the `model-index` is in the form the Hub reads, with the sacreBLEU signature of each score.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from bilingual import layout
from bilingual.layout import (CARD_FILE, DEFAULT_DATASET_CONFIG, DEFAULT_DATASET_REPO, DEFAULT_MODEL_REPO,
                              MODEL_CARD_TEMPLATE, TRAIN_RESULTS_JSON, public_name)
from bilingual.modeling import families, langtags
from bilingual.publishing.hub import TOKENIZER_FILES
from bilingual.storage import read_mapping, write_text

TEMPLATE = MODEL_CARD_TEMPLATE
METRICS = (("bleu", "BLEU"), ("chrf", "chrF"), ("chrf++", "chrF++"))
MISSING = "Not available: the run report has no {what} (the {stage} stage was skipped or failed)."
# Below this chrF (on the dev set during training, else the best test score) a model is a pipeline smoke test,
# not a translator: usable bn<->en systems score far higher (opus-mt-bn-en: chr-F 0.641 on Tatoeba-test;
# published figures in docs/training.md).
SMOKE_TEST_CHRF = 30.0


class CardError(ValueError):
    """Input that cannot make a card (no model config, unreadable report)."""


def _get(mapping: Any, *keys, default=None):
    """mapping[k1][k2]... or default, for reports where any section may be absent."""
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return default
        mapping = mapping[key]
    return mapping


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _dicts(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _num(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def clean_report(report) -> dict:
    """The report with every section coerced to the documented shape (a missing or malformed section becomes
    empty), so one odd stage output cannot break the card; empty sections are reported as missing."""
    report = _dict(report)
    out = {k: report.get(k) if isinstance(report.get(k), str) else None
           for k in ("run_dir", "started_at", "finished_at", "license")}
    if out["run_dir"]:  # the builder's own folder: only its name is public
        out["run_dir"] = public_name(out["run_dir"])
    out["versions"] = {str(k): str(v) for k, v in _dict(report.get("versions")).items()}
    out["sources"] = _dicts(report.get("sources"))
    corpus = _dict(report.get("corpus"))
    if corpus:
        steps = corpus.get("steps")
        if not isinstance(steps, list):  # accept any list of step dicts, whatever the builder names it
            steps = next((v for v in corpus.values() if isinstance(v, list) and v and isinstance(v[0], dict)
                          and "step" in v[0]), [])
        corpus = {**{k: _num(corpus.get(k)) for k in ("in", "kept", "rejected")},
                  "splits": {str(k): v for k, v in _dict(corpus.get("splits")).items() if _num(v) is not None},
                  "steps": [{**st, "reasons": {str(r): n for r, n in _dict(st.get("reasons")).items()
                                               if _num(n) is not None}} for st in _dicts(steps)]}
    out["corpus"] = corpus
    training = _dict(report.get("training"))
    if training:
        training = {**training, "hyperparameters": _dict(training.get("hyperparameters")),
                    "log_history": _dicts(training.get("log_history"))}
    out["training"] = training
    out["tokenizer"] = _dict(report.get("tokenizer"))
    out["evaluation"] = {str(d): {**sc, "signatures": {k: str(v) for k, v in _dict(sc.get("signatures")).items()}}
                         for d, sc in _dict(report.get("evaluation")).items() if isinstance(sc, dict)}
    out["export"] = {k: v for k, v in _dict(report.get("export")).items() if isinstance(v, dict)}
    return out


def load_report(path) -> dict:
    return read_mapping(path, "report sections", CardError, "run `bilingual run` first, or give --training/--evaluation")


def assemble_report(training_dir=None, evaluation_files=(), test_set: Optional[str] = None) -> dict:
    """A report for the step-by-step route (build → train → evaluate → card): the training folder's
    `train_results.json` becomes the "training" section and each `bilingual evaluate` output JSON adds its
    directions to "evaluation" — the same sections `bilingual run` writes, read as those stages wrote them."""
    report: dict = {}
    if training_dir is not None:
        path = Path(training_dir) / TRAIN_RESULTS_JSON
        report["training"] = read_mapping(path, "training results", CardError,
                                          "give the folder `bilingual train` wrote, which holds it")
    for file in evaluation_files:
        for direction, scores in read_mapping(file, "directions' scores", CardError,
                                              "run `bilingual evaluate` first").items():
            if not isinstance(scores, dict) or "-" not in direction:
                raise CardError(f"{file}: {direction!r} is not a direction's scores (expected the JSON "
                                "`bilingual evaluate` writes: {\"bn-en\": {...}, \"en-bn\": {...}})")
            if test_set and not scores.get("test_set"):
                scores["test_set"] = test_set
            report.setdefault("evaluation", {})[direction] = scores
    return report


def count_parameters(model_dir: Path) -> Optional[int]:
    """Exact parameter count of the architecture in config.json, built on the meta device (no weights loaded,
    no memory used); the same number as `model.num_parameters()`. None when the config cannot be built."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForSeq2SeqLM

        config = AutoConfig.from_pretrained(model_dir)
        with torch.device("meta"):
            model = AutoModelForSeq2SeqLM.from_config(config)
        return int(model.num_parameters())
    except Exception:  # unknown architecture: the card says the count is not available
        return None


def model_family(model_dir: Path) -> Optional[families.Family]:
    """The registered family of a saved model (None for a model type no family covers: the card then shows
    only what config.json says)."""
    try:
        return families.family_of_dir(model_dir)
    except families.UnknownFamilyError:
        return None


def architecture_rows(config: dict, family: Optional[families.Family] = None) -> list[tuple[str, str]]:
    """(label, value) rows of the card's architecture table: the family's name, then the canonical
    architecture facts the family registry reads from config.json (labels from `families.ARCH_FIELDS`)."""
    rows = [("family", family.card_name)] if family is not None and family.card_name else []
    facts = family.architecture(config) if family is not None else families.architecture(config)
    for name, value in facts.items():
        if value is not None:
            rows.append((families.ARCH_LABELS[name], ", ".join(map(str, value)) if isinstance(value, list)
                         else str(value)))
    return rows


def _tokenizer_info(model_dir: Path) -> dict:
    """Which target-language convention the tokenizer supports ('tag', 'mbart', 't5'), or why none."""
    if not any((model_dir / name).exists() for name in TOKENIZER_FILES):
        return {"style": None, "problem": "the model folder has no tokenizer files"}
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        return {"style": langtags.style_of(tok), "class": type(tok).__name__, "vocab_size": len(tok)}
    except Exception as err:  # an unreadable tokenizer is reported in the card, not fatal
        return {"style": None, "problem": f"the tokenizer could not be loaded ({type(err).__name__})"}



UNNAMED_TEST_SET = "test set not named in the run report"


def test_set_name(scores: dict) -> str:
    """The evaluation entry's own name for its test data ('test_set' or 'dataset'), never a guess; a file path
    is shown without the builder's folders."""
    name = scores.get("test_set") or scores.get("dataset")
    return ", ".join(public_name(part.strip()) for part in str(name).split(",")) if name else UNNAMED_TEST_SET


_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def test_set_id(scores: dict, dataset_repo: str) -> str:
    """model-index dataset.type: the test set's Hub id when the report gives one; the training dataset's repo
    only when the scores say they are on its held-out split; else a slug of the test set's name."""
    for name in (scores.get("test_set_id"), scores.get("test_set")):
        if isinstance(name, str) and _HUB_ID.fullmatch(name):
            return name
    if scores.get("dataset_config"):
        return dataset_repo
    return re.sub(r"[^a-z0-9]+", "-", test_set_name(scores).lower()).strip("-") or "unnamed"


def test_set_config(scores: dict, dataset_id: str, dataset_repo: str) -> Optional[str]:
    """model-index dataset.config: only one the dataset really has — the published dataset's `default` config
    (train/validation/test) when the scores are on it, or the config the evaluation entry names."""
    if scores.get("dataset_config"):
        return str(scores["dataset_config"])
    return DEFAULT_DATASET_CONFIG if dataset_id == dataset_repo else None


def eval_results(report: dict, dataset_repo: str) -> list:
    """One `EvalResult` per (direction, metric), with the sacreBLEU signature in the metric's args."""
    from huggingface_hub import EvalResult

    results = []
    for direction, scores in sorted((_get(report, "evaluation") or {}).items()):
        if not isinstance(scores, dict):
            continue
        src, _, tgt = direction.partition("-")
        dataset_id = test_set_id(scores, dataset_repo)
        for key, name in METRICS:
            value = _num(scores.get(key))
            if value is None:
                continue
            sig = _get(scores, "signatures", key)
            results.append(EvalResult(
                task_type="translation", task_name=f"Translation {direction}",
                dataset_type=dataset_id, dataset_name=f"{test_set_name(scores)} ({src}→{tgt})",
                dataset_config=test_set_config(scores, dataset_id, dataset_repo),
                dataset_split=str(scores.get("split") or "test"),
                metric_type=key, metric_name=f"{name} (sacreBLEU)", metric_value=round(float(value), 2),
                metric_args={"signature": sig} if sig else None,
            ))
    return results


def _eval_rows(report: dict) -> list[dict]:
    rows = []
    for direction, scores in sorted((_get(report, "evaluation") or {}).items()):
        if isinstance(scores, dict):
            rows.append({"direction": direction, **{k: scores.get(k) for k, _ in METRICS},
                         "test_set": test_set_name(scores),
                         "n": scores.get("n"), "backend": scores.get("backend"), "num_beams": scores.get("num_beams"),
                         "signatures": scores.get("signatures") or {}})
    return rows


def _training(report: dict) -> Optional[dict]:
    tr = report.get("training")
    if not tr:
        return None
    history = tr["log_history"]
    losses = [h for h in history if _num(h.get("loss")) is not None]
    evals = [h for h in history if any(k.startswith("eval_") for k in h)]
    return {
        "preset": tr.get("preset"), "model_type": tr.get("model_type"), "parameters": tr.get("parameters"),
        "hyperparameters": {k: public_name(v) if isinstance(v, str) and Path(v).is_absolute() else v
                            for k, v in (tr.get("hyperparameters") or {}).items()},  # a local starting checkpoint
        "best_checkpoint": Path(str(tr["best_checkpoint"])).name if tr.get("best_checkpoint") else None,
        "best_metric": tr.get("best_metric"), "tokens_per_second": tr.get("tokens_per_second"),
        "steps": max((h["step"] for h in history if _num(h.get("step")) is not None), default=None),
        "first_loss": losses[0]["loss"] if losses else None, "last_loss": losses[-1]["loss"] if losses else None,
        "evals": [{k: h[k] for k in ("step", "epoch", "eval_loss", "eval_bleu", "eval_chrf") if k in h}
                  for h in evals][-5:],
    }


def quality(report: dict) -> Optional[dict]:
    """The chrF that says whether this model translates: the best dev-set chrF of training (what checkpoint
    selection used), else the best test-set chrF; with `smoke_test` when it is below SMOKE_TEST_CHRF.
    None when the report has no chrF at all (the card then claims nothing)."""
    history = _get(report, "training", "log_history", default=[]) or []
    dev = [h["eval_chrf"] for h in history if _num(h.get("eval_chrf")) is not None]
    if dev:
        value, where = max(dev), "dev set, during training"
    else:
        test = {d: sc["chrf"] for d, sc in (_get(report, "evaluation") or {}).items()
                if isinstance(sc, dict) and _num(sc.get("chrf")) is not None}
        if not test:
            return None
        direction = max(test, key=test.get)
        value, where = test[direction], f"test set, {direction}"
    return {"chrf": float(value), "where": where, "threshold": SMOKE_TEST_CHRF,
            "smoke_test": float(value) < SMOKE_TEST_CHRF}


def _funnel(report: dict) -> list[dict]:
    rows = []
    for step in _get(report, "corpus", "steps", default=None) or []:
        top = sorted(step["reasons"].items(), key=lambda kv: -kv[1])[:3]
        rows.append({"step": step.get("step"), "in": _num(step.get("in")), "kept": _num(step.get("kept")),
                     "dropped": _num(step.get("dropped")), "reasons": ", ".join(f"{r} ({n})" for r, n in top)})
    return rows


def _licence(report: dict, license: Optional[str]) -> tuple[str, Optional[str]]:
    """(Hub licence id, note). Explicit argument > report['license'] > 'other' with a pointer to the data licences."""
    chosen = license or report.get("license")
    if chosen:
        return str(chosen), None
    return "other", "The run report sets no model licence (licence `other`); the training data licences are in the lineage table above."


def build_model_card(model_dir, report: dict, dataset_repo: str = DEFAULT_DATASET_REPO,
                     model_repo: str = DEFAULT_MODEL_REPO, license: Optional[str] = None):
    """A `huggingface_hub.ModelCard` for `model_dir` from the run report (nothing typed in)."""
    import jinja2
    from huggingface_hub import ModelCard, ModelCardData

    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.exists():
        raise CardError(f"{model_dir}: no config.json (not a saved model folder)")
    config = read_mapping(config_path, "model settings", CardError)
    report = clean_report(report)

    results = eval_results(report, dataset_repo)
    licence_id, licence_note = _licence(report, license)
    model_type = config.get("model_type")
    counted = count_parameters(model_dir)
    verdict = quality(report)
    family = model_family(model_dir)
    tags = ["translation", "bilingual", "bn", "en"] + ([model_type] if model_type else [])
    tags += [t for t in (family.card_tags if family is not None else ()) if t not in tags]
    if (model_dir / layout.ONNX_DIR / layout.ONNX_MARKER).exists():
        tags.append("onnx")
    if verdict and verdict["smoke_test"]:
        tags.append("smoke-test")
    data = ModelCardData(
        language=["bn", "en"], license=licence_id, datasets=[dataset_repo], metrics=["bleu", "chrf"],
        tags=tags, pipeline_tag="translation", library_name="transformers",
        model_name=model_repo.split("/")[-1], eval_results=results or None,
        **({"license_name": "see-training-data-licences"} if licence_id == "other" else {}),
    )
    export = report["export"]
    has_onnx_dir = (model_dir / layout.ONNX_DIR / layout.ONNX_MARKER).is_file()
    context = {
        "model_repo": model_repo, "dataset_repo": dataset_repo, "model_type": model_type,
        "architecture": architecture_rows(config, family),
        "parameters_report": _get(report, "training", "parameters"), "parameters_counted": counted,
        "training": _training(report), "quality": verdict, "sources": report["sources"], "corpus": report["corpus"] or None,
        "funnel": _funnel(report), "evaluation": _eval_rows(report),
        "tokenizer": _tokenizer_info(model_dir), "tokenizer_report": _get(report, "tokenizer"),
        "tags": langtags.TARGET_TAGS, "mbart_codes": langtags.MBART_CODES,
        "parity": _parity(export),
        "has_onnx_dir": has_onnx_dir,
        "has_onnx_int8": (model_dir / layout.ONNX_INT8_DIR / layout.ONNX_MARKER).is_file(),
        "has_ctranslate2": (model_dir / layout.CTRANSLATE2_DIR / layout.CTRANSLATE2_MARKER).is_file(),
        "bn_bleu_13a": any("tok:13a" in sc["signatures"].get("bleu", "") for d, sc in report["evaluation"].items()
                           if d.endswith("-bn")), "licence": licence_id, "licence_note": licence_note,
        "versions": report["versions"],
        "run": {k: report.get(k) for k in ("run_dir", "started_at", "finished_at")},
        "missing": lambda what, stage: MISSING.format(what=what, stage=stage),
        "fmt": _fmt,
    }
    env = jinja2.Environment( trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    body = env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**context)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


_PARITY_NAMES = {"onnx": "ONNX fp32", "onnx_int8": "ONNX int8 (dynamic quantization)", "ctranslate2": "CTranslate2"}


def _parity(export: dict) -> list[dict]:
    """Rows of the export parity checks (share of sequences identical to PyTorch greedy output)."""
    rows = []
    for key, name in _PARITY_NAMES.items():
        info = export.get(key) if isinstance(export, dict) else None
        if not isinstance(info, dict):
            continue
        identical = info.get("identical")
        if isinstance(identical, (int, float)) and identical <= 1:
            identical = identical * 100
        rows.append({"name": name, "identical": identical, "n": info.get("n"), "passed": info.get("passed"),
                     "chrf_drop": _num(info.get("chrf_drop"))})
    return rows


def _fmt(value, digits: Optional[int] = 2) -> str:
    import jinja2

    if value is None or isinstance(value, jinja2.Undefined):
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if digits is None:  # hyper-parameters: as written, no padding
            return f"{value:g}"
        return f"{value:,.{digits}f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"
    return str(value)


def write_model_card(model_dir, report: dict, dataset_repo: str = DEFAULT_DATASET_REPO,
                     model_repo: str = DEFAULT_MODEL_REPO, license: Optional[str] = None) -> Path:
    """Generate the card and write `model_dir/README.md` atomically; returns its path."""
    card = build_model_card(model_dir, report, dataset_repo=dataset_repo, model_repo=model_repo, license=license)
    return write_text(Path(model_dir) / CARD_FILE, str(card))
