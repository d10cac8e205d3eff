"""Training end to end on real Tatoeba pairs: overfitting (chrF >= 90), best-by-chrF checkpoint kept
over a worse last one, resume after a real kill with the same data order, streaming data, a
2-process gloo run through `accelerate launch`, and bad recipes refused before training."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _modeling_helpers import REPO, tatoeba_pairs, tiny_config, write_dataset

from bilingual.modeling.data import DataError, write_splits
from bilingual.modeling.args import ConfigError, config_from_dict, load_config
from bilingual.modeling.metrics import score
from bilingual.modeling.train import train
from bilingual.inference.translator import Translator

PAIRS = tatoeba_pairs(64)
STEPS, LR = 240, 1.5e-3   # overfitting run: evaluations at 60/120/180/240, the last one sabotaged


@pytest.fixture(scope="module")
def ds64(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds64"), PAIRS)


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "BILINGUAL_QUIET": "1", "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------- overfit + best checkpoint selection
class Sabotage:
    """At the last step, before its evaluation, wreck the weights: the last checkpoint is then the
    worst one, and keeping it instead of the best-chrF one would show."""

    def __init__(self, at_step):
        from transformers import TrainerCallback

        self.at_step = at_step
        self.__class__ = type("SabotageCallback", (Sabotage, TrainerCallback), {})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.at_step:
            with torch.no_grad():
                g = torch.Generator().manual_seed(0)
                for p in model.parameters():
                    p.add_(torch.randn(p.shape, generator=g) * 0.5)


@pytest.fixture(scope="module")
def overfit_run(ds64, tmp_path_factory):
    out = tmp_path_factory.mktemp("overfit") / "run"
    cfg = tiny_config(ds64, out, max_steps=STEPS, eval_steps=STEPS // 4, save_steps=STEPS // 4, logging_steps=25,
                      label_smoothing_factor=0.0, save_total_limit=2, report_to=["tensorboard"], learning_rate=LR,
                      generation_max_length=48, dropout=0.0, max_tokens=2048, per_device_train_batch_size=32,
                      max_eval_samples=64)
    return train(cfg, callbacks=[Sabotage(STEPS)])


def test_tiny_model_overfits_64_real_pairs(overfit_run):
    tr = Translator(overfit_run["output_dir"])
    for src, tgt in (("en", "bn"), ("bn", "en")):
        hyps = tr.translate([p[src] for p in PAIRS], src, tgt)
        assert score(hyps, [p[tgt] for p in PAIRS], tgt)["chrf"] >= 90, (src, tgt, hyps[:5])


def test_kept_model_is_the_best_chrf_checkpoint_not_the_last(overfit_run):
    evals = [h for h in overfit_run["log_history"] if "eval_chrf" in h]
    assert [h["step"] for h in evals] == [STEPS // 4 * k for k in (1, 2, 3, 4)]
    best = max(evals, key=lambda h: h["eval_chrf"])
    assert evals[-1]["eval_chrf"] < best["eval_chrf"] - 20        # the sabotaged last step is worse
    assert overfit_run["best_metric"] == pytest.approx(best["eval_chrf"])
    assert overfit_run["best_checkpoint"].endswith(f"checkpoint-{best['step']}")
    out = Path(overfit_run["output_dir"])
    kept = sorted(p.name for p in out.glob("checkpoint-*"))
    assert f"checkpoint-{best['step']}" in kept and f"checkpoint-{STEPS}" in kept   # the best survives rotation
    from safetensors.torch import load_file

    final = load_file(out / "model.safetensors")
    best_w = load_file(Path(overfit_run["best_checkpoint"]) / "model.safetensors")
    last_w = load_file(out / f"checkpoint-{STEPS}" / "model.safetensors")
    assert all(torch.equal(final[k], best_w[k]) for k in best_w)
    assert not all(torch.equal(final[k], last_w[k]) for k in last_w)
    # TensorBoard got loss, learning rate, chrF, BLEU and tokens/s
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in (out / "runs").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "eval/chrf", "eval/bleu", "train/tokens_per_second"} <= tags
    assert overfit_run["tokens_per_second"] > 0
    # dev scores use the metric setup of `bilingual evaluate`: intl-tokenized BLEU into Bengali
    assert overfit_run["signatures"]["en-bn"]["bleu"] == score(["a"], ["a"], "bn")["signatures"]["bleu"]
    assert "tok:intl" in overfit_run["signatures"]["en-bn"]["bleu"]
    assert "tok:13a" in overfit_run["signatures"]["bn-en"]["bleu"]


# ---------------------------------------------------------------------------- resume after a kill
CHILD = """
import sys, time, json
from transformers import TrainerCallback
from bilingual.modeling.train import train
class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step > 4:
            time.sleep(1.0)
train(json.loads(sys.argv[1]), callbacks=[Slow()])
"""


def test_resumes_after_kill_from_saved_step_with_same_data_order(ds64, tmp_path):
    cfg = tiny_config(ds64, tmp_path / "run", max_steps=10, logging_steps=1, eval_steps=4, save_steps=4)
    cfg["max_steps"] = 16   # the killed run is slowed down after step 4: it cannot finish first
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg)], env=_env(), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = tmp_path / "run" / "checkpoint-4" / "trainer_state.json"
    deadline = time.time() + 240
    while not state.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert state.exists(), child.stderr.read().decode()[-2000:] if child.poll() is not None else "no checkpoint"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    assert not (tmp_path / "run" / "train_results.json").exists()

    resumed = train(cfg)
    assert resumed["resumed_from"].endswith("checkpoint-4") and resumed["global_step"] == 16
    reference = train({**cfg, "output_dir": str(tmp_path / "ref")})
    loss = lambda r: {h["step"]: h["loss"] for h in r["log_history"] if "loss" in h}  # noqa: E731
    got, want = loss(resumed), loss(reference)
    assert set(got) == set(want) == set(range(1, 17))
    for step in range(5, 17):   # steps after the kill: same batches, same dropout, same loss
        assert got[step] == pytest.approx(want[step], rel=1e-4, abs=1e-5), step


def test_checkpoint_of_another_model_refuses_to_resume(ds64, tmp_path):
    cfg = tiny_config(ds64, tmp_path / "run", max_steps=2, eval_steps=2, save_steps=2)
    train(cfg)
    cfg.update(preset="small", max_steps=4)
    with pytest.raises(ConfigError, match="different model"):
        train(cfg)
    cfg.update(preset="tiny", resume="never")
    with pytest.raises(ConfigError, match="overwrite_output_dir"):
        train(cfg)


def test_early_stopping_ends_a_run_that_stopped_improving(ds64, tmp_path):
    # a learning rate this small leaves dev chrF flat: the 2nd evaluation is no gain, patience 1 stops
    cfg = tiny_config(ds64, tmp_path / "run", max_steps=40, eval_steps=2, save_steps=2, learning_rate=1e-12,
                      early_stopping_patience=1)
    r = train(cfg)
    assert r["global_step"] == 4
    assert r["best_checkpoint"].endswith("checkpoint-2")


# -------------------------------------------------------------------------- streaming + distributed
def test_streaming_one_direction(ds64, tmp_path):
    cfg = tiny_config(ds64, tmp_path / "run", max_steps=4, eval_steps=2, save_steps=2)
    cfg.update(streaming=True, shuffle_buffer=32, directions=["en-bn"], batching="length_grouped")
    r = train(cfg)
    assert r["global_step"] == 4 and r["hyperparameters"]["directions"] == ["en-bn"]
    evals = [h for h in r["log_history"] if "eval_chrf" in h]
    assert evals and all("eval_chrf_en_bn" in h and "eval_chrf_bn_en" not in h for h in evals)


def test_two_process_gloo_run_through_accelerate(ds64, tmp_path):
    import yaml

    cfg = tiny_config(ds64, tmp_path / "run", max_steps=4, eval_steps=2, save_steps=2)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    # the documented command: Accelerate's `--cpu` launcher alone would run ONE process (it expects mpirun);
    # the train command relaunches itself as 2 torchrun processes, gloo DDP
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(REPO / "scripts" / "train.py"),
           "--config", str(tmp_path / "cfg.yaml"), "--quiet"]
    proc = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"world size \(processes\)\W+2\b", proc.stdout), proc.stdout[-2000:]
    res = json.loads((tmp_path / "run" / "train_results.json").read_text())
    assert res["hyperparameters"]["world_size"] == 2
    assert res["hyperparameters"]["distributed_backend"] == "gloo"
    assert res["global_step"] == 4
    from transformers import AutoModelForSeq2SeqLM

    assert AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "run").config.model_type == "marian"


# --------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("change, message", [
    ({"learnig_rate": 1e-3}, r"unknown key\(s\) learnig_rate \(did you mean learning_rate\?\)"),
    ({"optimizer": {}}, "unknown key.*optimizer"),
    ({"learning_rate": -1}, "learning_rate must be"),
    ({"max_steps": "many"}, "max_steps must be an integer"),
    ({"max_steps": 1.5}, "max_steps must be an integer"),
    ({"save_steps": 5, "eval_steps": 2}, "round multiple of the evaluation steps"),
    ({"directions": ["bn-fr"]}, "bad direction"),
    ({"batching": "magic"}, "batching must be one of"),
    ({"preset": "huge"}, "preset must be one of"),
    ({"mixed_precision": "fp8"}, "mixed_precision must be one of"),
    ({"lr_scheduler_type": "sideways"}, "lr_scheduler_type must be one of"),
    ({"optim": "sgdd"}, "optim must be one of"),
    ({"model": {"preset": "huge"}}, "preset must be one of"),          # old nested recipes are still read
    ({"training": {"max_stepz": 3}}, "unknown key.*max_stepz"),
])
def test_bad_recipes_fail_before_training(change, message, tmp_path):
    cfg = tiny_config(tmp_path, tmp_path / "run")
    cfg.update(change)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(cfg, "recipe.yaml")


def test_training_options_are_seq2seq_training_arguments(tmp_path):
    """Any Seq2SeqTrainingArguments field is a recipe key and a flag, flags override the recipe."""
    import yaml

    from bilingual.modeling.args import parse_args

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**tiny_config(tmp_path, tmp_path / "run"), "optim": "adafactor",
                                      "gradient_checkpointing": True, "fsdp_config": {"min_num_params": 5}}))
    cfg, _ = parse_args(["--config", str(recipe), "--max_steps", "3", "--dataset_name", "other",
                         "--weight_decay", "0.01"])
    t = cfg.training
    assert (t.optim.value, t.gradient_checkpointing, t.max_steps, t.weight_decay) == ("adafactor", True, 3, 0.01)
    assert t.fsdp_config["min_num_params"] == 5 and cfg.data.dataset_name == "other"
    assert t.learning_rate == 1e-3 and t.metric_for_best_model == "chrf" and t.load_best_model_at_end


def test_missing_or_empty_split_is_named(tmp_path):
    write_splits(tmp_path / "a", {"train": PAIRS[:4]})
    with pytest.raises(DataError, match="split 'validation' is missing"):
        train(tiny_config(tmp_path / "a", tmp_path / "run"))
    write_splits(tmp_path / "b", {"train": PAIRS[:4]})
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": pa.array([], pa.string()), "bn": pa.array([], pa.string()),
                             "en": pa.array([], pa.string())}),
                   tmp_path / "b" / "dataset" / "validation-00000-of-00001.parquet")
    with pytest.raises(DataError, match="split 'validation' is empty"):
        train(tiny_config(tmp_path / "b", tmp_path / "run"))
    with pytest.raises(DataError, match="does not exist"):
        train(tiny_config(tmp_path / "nowhere", tmp_path / "run"))


def test_cli_reports_bad_config_in_one_line(tmp_path, capsys):
    from bilingual.commands.train import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("max_stepz: 3\n")
    assert main(["--config", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train: error:") and "max_stepz (did you mean max_steps?)" in err and "\n" not in err
    assert main(["--config", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    listed = tmp_path / "list.yaml"
    listed.write_text("- max_steps: 3\n- preset: tiny\n")
    assert main(["--config", str(listed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a mapping of training arguments" in err and "list" in err


def test_shipped_recipes_are_valid():
    for name in ("tiny", "small", "base"):
        cfg = load_config(REPO / "recipes" / "train" / f"{name}.yaml")
        assert cfg.model.preset == name and cfg.training.save_steps % cfg.training.eval_steps == 0
    for name in ("finetune-nllb-600m", "finetune-opus-mt", "finetune-mbart50"):
        cfg = load_config(REPO / "recipes" / "train" / f"{name}.yaml")
        assert cfg.model.model_name_or_path and cfg.training.save_steps % cfg.training.eval_steps == 0


def test_cli_flags_override_a_recipe_and_read_a_translation_column_dataset(tmp_path, capsys):
    """`bilingual train --config RECIPE --dataset_name DIR --output_dir OUT --max_steps N`, on a dataset in the
    `translation: {bn, en}` shape of run_translation.py / OPUS datasets."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bilingual.commands.train import main
    from _modeling_helpers import shared_tokenizer_dir

    folder = tmp_path / "opus-style"
    folder.mkdir()
    for split, rows in (("train", PAIRS[:32]), ("validation", PAIRS[32:40])):
        pq.write_table(pa.table({"translation": [{"bn": r["bn"], "en": r["en"]} for r in rows]}),
                       folder / f"{split}-00000-of-00001.parquet")
    out = tmp_path / "run"
    rc = main(["--config", str(REPO / "recipes" / "train" / "tiny.yaml"), "--dataset_name", str(folder),
               "--output_dir", str(out), "--max_steps", "2", "--eval_steps", "2", "--save_steps", "2",
               "--tokenizer_name", str(shared_tokenizer_dir()), "--max_eval_samples", "4",
               "--generation_max_length", "8", "--cpu_threads", "1", "--report_to", "none", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((out / "train_results.json").read_text())
    assert res["global_step"] == 2 and res["world_size"] == 1 and res["hyperparameters"]["learning_rate"] == 1e-3
    assert "world size (processes)" in capsys.readouterr().out
