"""Model card generation from a run report and a real (tiny) saved model folder."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from huggingface_hub import ModelCard

from bilingual.publishing import cards
from bilingual.commands import card as card_cmd
from _hub_helpers import built_fixture, copy_tree, sample_report


@pytest.fixture()
def model_dir(tmp_path, tiny_model):
    """A private copy of the fixture model (cards write README.md into it)."""
    return copy_tree(built_fixture(tiny_model)["model"], tmp_path / "model")


def _load(model_dir) -> ModelCard:
    return ModelCard.load(model_dir / "README.md")


def test_card_carries_the_reports_numbers(model_dir):
    report = sample_report(model_dir, bleu=17.89, chrf=47.25)
    path = cards.write_model_card(model_dir, report, dataset_repo="acme/bn-en", model_repo="acme/bn-en-mt")
    assert path == model_dir / "README.md"
    card = _load(model_dir)
    data = card.data
    assert data.language == ["bn", "en"]
    assert data.datasets == ["acme/bn-en"]
    assert data.metrics == ["bleu", "chrf"]
    assert data.pipeline_tag == "translation"
    assert data.model_name == "bn-en-mt"
    assert "onnx" in data.tags and "marian" in data.tags
    got = {(r.task_name.split()[-1], r.metric_type): (r.metric_value, (r.metric_args or {}).get("signature"))
           for r in data.eval_results}
    ev = report["evaluation"]
    for direction in ("bn-en", "en-bn"):
        for metric in ("bleu", "chrf", "chrf++"):
            value, sig = got[(direction, metric)]
            assert value == round(ev[direction][metric], 2)
            assert sig == ev[direction]["signatures"].get(metric)
    # the raw YAML has the model-index with the signature the Hub shows
    raw = path.read_text(encoding="utf-8")
    assert "model-index:" in raw and "tok:13a" in raw
    text = card.text
    assert "17.89" in text and "47.25" in text  # evaluation table
    for direction, scores in ev.items():
        for sig in scores["signatures"].values():
            assert sig in text
    # architecture comes from config.json, parameter count from the architecture itself
    config = json.loads((model_dir / "config.json").read_text())
    from transformers import AutoModelForSeq2SeqLM

    n_params = AutoModelForSeq2SeqLM.from_pretrained(model_dir).num_parameters()
    assert f"| parameters (counted from config.json) | {n_params:,} |" in text
    assert f"| vocabulary size | {config['vocab_size']} |" in text
    assert f"| encoder layers | {config['encoder_layers']} |" in text
    # training config and lineage
    assert "| learning_rate | 0.0005 |" in text and "| label_smoothing_factor | 0.1 |" in text
    assert "Preset `tiny-cpu`" in text and "7.891 → 5.432" in text
    assert "| tatoeba | CC-BY 2.0 FR | 4,642 | 4,390 | 3 | ok |" in text
    assert "| dedup | 7,713 | 7,401 | 312 | exact_duplicate (300), near_duplicate (12) |" in text
    assert "train 7,001, validation 200, test 200" in text
    # loading instructions with the target-tag convention, for PyTorch and ONNX Runtime
    assert 'AutoModelForSeq2SeqLM.from_pretrained("acme/bn-en-mt")' in text
    assert 'ORTModelForSeq2SeqLM.from_pretrained("acme/bn-en-mt", subfolder="onnx", use_merged=False)' in text
    assert ">>bn<< How are you?" in text and ">>en<<" in text
    assert "| ONNX fp32 | 100.00 | 0.00 | 50 | passed |" in text
    assert "| ONNX int8 (dynamic quantization) | 96.00 | 0.42 | 50 | passed |" in text
    # the test set is named only where the report names it
    assert "| bn-en | NTREX-128 | 17.89 |" in text
    assert "| en-bn | test set not named in the run report |" in text
    names = {r.task_name: r.dataset_name for r in data.eval_results}
    assert names == {"Translation bn-en": "NTREX-128 (bn→en)",
                     "Translation en-bn": "test set not named in the run report (en→bn)"}
    # the model-index names no dataset config the training dataset lacks: external test sets have none
    assert {(r.dataset_type, r.dataset_config) for r in data.eval_results} == {
        ("ntrex-128", None), ("test-set-not-named-in-the-run-report", None)}
    assert "## Intended use" in text and "## Limitations and risks" in text
    assert not list(model_dir.glob(".README.md*"))  # atomic write left no temporary file


def test_numbers_are_not_typed_in(model_dir, tmp_path):
    """Two reports with different scores give cards that differ exactly there."""
    a = cards.build_model_card(model_dir, sample_report(model_dir, bleu=13.57, chrf=33.33))
    b = cards.build_model_card(model_dir, sample_report(model_dir, bleu=24.69, chrf=44.44))
    assert "13.57" in str(a) and "13.57" not in str(b)
    assert "44.44" in str(b) and "44.44" not in str(a)
    assert [r.metric_value for r in a.data.eval_results] != [r.metric_value for r in b.data.eval_results]


def test_missing_sections_say_so(model_dir):
    """An empty report: no invented numbers, each section says what is missing, and the card is still valid."""
    path = cards.write_model_card(model_dir, {})
    card = _load(model_dir)
    assert not card.data.eval_results
    assert "model-index" not in path.read_text(encoding="utf-8").split("---")[1]
    text = card.text
    assert "Not available: the run report has no evaluation scores (the evaluate stage was skipped or failed)." in text
    assert "Not available: the run report has no training section (the train stage was skipped or failed)." in text
    assert "Not available: the run report has no source list" in text
    assert "Not available: the run report has no filter funnel" in text
    assert "Training corpus size not recorded" in text
    assert card.data.license == "other"
    assert "| parameters (training report) |" not in text
    # real facts from the folder are still there
    assert "| parameters (counted from config.json) |" in text


def test_card_without_tokenizer_or_onnx(model_dir):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (model_dir / name).unlink()
    shutil.rmtree(model_dir / "onnx")
    report = sample_report(model_dir)
    report["license"] = "apache-2.0"
    cards.write_model_card(model_dir, report)
    card = _load(model_dir)
    assert "Not available: the model folder has no tokenizer files." in card.text
    assert "Not available: this model folder has no `onnx/` export." in card.text
    assert "onnx" not in card.data.tags
    assert card.data.license == "apache-2.0"


def test_card_command(model_dir, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    report_path.write_text(json.dumps(sample_report(model_dir, bleu=9.87)), encoding="utf-8")
    assert card_cmd.main(["--model", str(model_dir), "--report", str(report_path), "--quiet"]) == 0
    assert "9.87" in (model_dir / "README.md").read_text(encoding="utf-8")
    assert "model card" in capsys.readouterr().out

    # bad input: one line naming the file, non-zero exit, no traceback
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    assert card_cmd.main(["--model", str(model_dir), "--report", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "not valid JSON" in err
    assert card_cmd.main(["--model", str(tmp_path / "nowhere"), "--report", str(report_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no config.json" in err


def test_card_snippets_run(model_dir):
    """The card's Python snippets work when the repo id points at the model folder."""
    cards.write_model_card(model_dir, sample_report(model_dir), model_repo="org/bilingual-mt")
    text = (model_dir / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        code = block.replace('"org/bilingual-mt"', repr(str(model_dir))).replace("print(", "_out = (")
        scope: dict = {}
        exec(compile(code, "card-snippet", "exec"), scope)
        assert isinstance(scope["_out"], list) and len(scope["_out"]) == 1


@pytest.mark.parametrize("section", ["evaluation", "training", "sources", "corpus", "export", "tokenizer", "versions"])
@pytest.mark.parametrize("value", [None, "oops", 7, [1, "a"], {"x": 1}])
def test_malformed_sections_do_not_break_the_card(model_dir, section, value):
    """A stage that wrote an odd value costs only its own section, which then says it is missing."""
    report = sample_report(model_dir)
    report[section] = value
    card = cards.build_model_card(model_dir, report)
    text = card.text
    if section == "evaluation":
        assert "the run report has no evaluation scores" in text and not card.data.eval_results
    elif section == "training":
        assert ("Hyper-parameters: not recorded in the run report." if value == {"x": 1}
                else "the run report has no training section") in text
    elif section == "sources":
        assert "the run report has no source list" in text
    elif section == "corpus":
        assert "the run report has no filter funnel" in text
    else:  # the rest of the card is intact
        assert len(card.data.eval_results) == 6


def _with_dev_chrf(report: dict, chrf: float) -> dict:
    report["training"]["log_history"] = [h for h in report["training"]["log_history"] if "eval_chrf" not in h]
    report["training"]["log_history"].append({"step": 20, "eval_loss": 5.9, "eval_chrf": chrf, "eval_bleu": 1.0})
    return report


def test_smoke_test_model_says_so_first(model_dir):
    """A model below the chrF threshold is called a smoke test in the card's first lines and intended use."""
    report = _with_dev_chrf(sample_report(model_dir, chrf=4.9), 5.25)
    card = cards.build_model_card(model_dir, report)
    lines = [line for line in card.text.splitlines() if line.strip()]
    assert lines[0] == "# bilingual-mt: pipeline smoke test, not a translator"
    assert lines[1].startswith("**This model does not translate.** Its best chrF is 5.25 (dev set, during training), "
                               f"below {cards.SMOKE_TEST_CHRF:.0f}")
    intended = card.text.split("## Intended use")[1].split("##")[0]
    assert "pipeline smoke test, not a translator" in intended and "for research, prototyping" not in intended
    assert "smoke-test" in card.data.tags

    # the same folder with a translator's dev score: no warning
    good = cards.build_model_card(model_dir, _with_dev_chrf(sample_report(model_dir, chrf=55.0), 52.5))
    assert good.text.lstrip().splitlines()[0] == "# bilingual-mt: Bangla–English translation model"
    assert "smoke test" not in good.text and "smoke-test" not in good.data.tags
    # without a dev score, the test score decides
    report = sample_report(model_dir, chrf=12.0)
    del report["training"]
    assert "(test set, en-bn)" in cards.build_model_card(model_dir, report).text.split("\n##")[0]


def test_no_scores_no_claim(model_dir):
    """With nothing measured the card says it was not evaluated and never claims measured figures."""
    text = cards.build_model_card(model_dir, {}).text
    assert "**Not evaluated:**" in text and "measured" not in text.split("## Evaluation")[0].replace(
        "nothing here says how well", "")
    assert "every score below was measured" not in text


def test_card_shows_no_local_paths(model_dir, tmp_path):
    """Run folder, checkpoint and test-set file locations of the building machine stay out of the card."""
    from bilingual.layout import REPO_ROOT

    report = sample_report(model_dir)
    report["run_dir"] = str(tmp_path / "runs" / "20261126T0600")
    report["training"]["best_checkpoint"] = str(tmp_path / "runs" / "20261126T0600" / "train" / "checkpoint-300")
    report["training"]["hyperparameters"]["model_name_or_path"] = str(tmp_path / "checkpoints" / "opus-mt-en-bn")
    ntrex = REPO_ROOT / "data" / "samples" / "parallel" / "ntrex128"
    report["evaluation"]["bn-en"]["test_set"] = f"{ntrex}/newstest2019-ref.ben.txt,{ntrex}/newstest2019-src.eng.txt"
    text = str(cards.build_model_card(model_dir, report))
    assert str(tmp_path) not in text and str(REPO_ROOT) not in text
    assert "`checkpoint-300`" in text and "run `20261126T0600`" in text and "| model_name_or_path | opus-mt-en-bn |" in text
    assert "data/samples/parallel/ntrex128/newstest2019-ref.ben.txt" in text


def test_card_command_step_by_step_defaults(model_dir, tmp_path, capsys):
    """Without a run report the card is made from the folder's train_results.json and `bilingual evaluate`'s
    default output; with neither, one line says what to give."""
    assert card_cmd.main(["--model", str(model_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--report" in err and "--training" in err and "--evaluation" in err

    report = sample_report(model_dir, bleu=3.21, chrf=8.76)
    (model_dir / "train_results.json").write_text(json.dumps(report["training"]), encoding="utf-8")
    eval_json = model_dir / "eval" / "pytorch" / "evaluation.json"
    eval_json.parent.mkdir(parents=True)
    eval_json.write_text(json.dumps({d: {k: v for k, v in s.items() if k != "test_set"}
                                     for d, s in report["evaluation"].items()}), encoding="utf-8")
    assert card_cmd.main(["--model", str(model_dir), "--test-set", "NTREX-128", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "made from" in out and "smoke test" in out
    text = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "| bn-en | NTREX-128 | 3.21 | 8.76 |" in text and "Preset `tiny-cpu`" in text
    assert "pipeline smoke test, not a translator" in text  # dev chrF 21.7 in the training section
