"""Reproducible and interruptible training: the same seed and data give the same tokenizer and the same
weights; a run killed before its first checkpoint reruns cleanly; a torn checkpoint is named and skipped;
and in a real 2-process gloo world the tokenized data is written once and each process streams its own part."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _modeling_helpers import REPO, tatoeba_pairs, tiny_config, write_dataset

from bilingual.modeling.train import train

PAIRS = tatoeba_pairs(64)


@pytest.fixture(scope="module")
def ds64(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds64"), PAIRS)


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "BILINGUAL_QUIET": "1", "OMP_NUM_THREADS": "1"}


def test_same_seed_and_data_give_the_same_tokenizer_and_weights(ds64, tmp_path):
    from safetensors.torch import load_file

    runs = []
    for name in ("a", "b"):
        # the tokenizer is trained inside the run (tokenizer_name unset), then the model
        cfg = tiny_config(ds64, tmp_path / name, max_steps=3, eval_steps=3, save_steps=3, tokenizer_name=None,
                          vocab_size=600)
        runs.append(Path(train(cfg)["output_dir"]))
    a, b = runs
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_tokenizer_vocabulary_order_does_not_depend_on_thread_timing():
    from bilingual.modeling.tokenizer import train_tokenizer

    texts = [p[lang] for p in tatoeba_pairs() for lang in ("bn", "en")]
    first = train_tokenizer(texts, vocab_size=1000).backend_tokenizer.to_str()
    for _ in range(2):
        assert train_tokenizer(texts, vocab_size=1000).backend_tokenizer.to_str() == first


CHILD = """
import sys, time, json
from transformers import TrainerCallback
from bilingual.modeling.train import train
class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        time.sleep(2.0)
train(json.loads(sys.argv[1]), callbacks=[Slow()])
"""


def test_run_killed_before_its_first_checkpoint_reruns_cleanly(ds64, tmp_path):
    cfg = tiny_config(ds64, tmp_path / "run", max_steps=4, eval_steps=4, save_steps=4)
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg)], env=_env(), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    meta = tmp_path / "run" / "bilingual_run.json"
    deadline = time.time() + 240
    while not meta.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert meta.exists(), child.stderr.read().decode()[-2000:] if child.poll() is not None else "no run meta"
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    assert not list((tmp_path / "run").glob("checkpoint-*/trainer_state.json"))

    result = train(cfg)   # no overwrite_output_dir needed: nothing resumable was there
    assert result["resumed_from"] is None and result["global_step"] == 4


def test_torn_trainer_state_is_named_and_the_last_intact_checkpoint_resumes(ds64, tmp_path, capsys):
    cfg = tiny_config(ds64, tmp_path / "run", max_steps=4, eval_steps=2, save_steps=2)
    train(cfg)
    state = tmp_path / "run" / "checkpoint-4" / "trainer_state.json"
    state.write_text(state.read_text()[:40])   # torn mid-write
    capsys.readouterr()
    result = train({**cfg, "max_steps": 6})
    assert result["resumed_from"].endswith("checkpoint-2") and result["global_step"] == 6
    err = capsys.readouterr().err
    assert f"{state} is torn" in err


WORKER = """
import json, sys
from pathlib import Path
from bilingual.modeling.args import config_from_dict
from bilingual.modeling import train as t
cfg = config_from_dict(json.loads(sys.argv[1]))
state = t._state()
out = Path(cfg.training.output_dir)
splits = t.data_mod.load_splits(cfg.data.dataset_name, ("train", "validation"), streaming=cfg.data.streaming)
hf = t.load_model(cfg, out, splits)
train_ds, sampler, eval_ds, dev = t.prepare_train_data(cfg, hf, splits, out)
if cfg.data.streaming:
    seen = [[ex["input_ids"], ex["labels"]] for ex in train_ds]
    report = {"seen": seen}
else:
    report = {"files": [f["filename"] for f in train_ds.cache_files], "n": len(train_ds)}
report.update(rank=state.process_index, world=state.num_processes)
Path(sys.argv[2], f"rank{state.process_index}.json").write_text(json.dumps(report))
"""


def _two_ranks(cfg, tmp_path) -> list[dict]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    for old in reports.glob("*.json"):
        old.unlink()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           str(script), json.dumps(cfg), str(reports)]
    proc = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((reports / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_two_ranks_share_one_tokenized_cache_and_stream_disjoint_parts(ds64, tmp_path):
    cfg = tiny_config(ds64, tmp_path / "run", streaming=True, shuffle_buffer=16, directions=["en-bn"])
    r0, r1 = _two_ranks(cfg, tmp_path)
    assert (r0["world"], r1["world"]) == (2, 2)
    a = {json.dumps(x) for x in r0["seen"]}
    b = {json.dumps(x) for x in r1["seen"]}
    assert a and b and not a & b                       # disjoint
    assert len(a) + len(b) == len(PAIRS)                # together: every example once

    cfg = tiny_config(ds64, tmp_path / "run", streaming=False)
    r0, r1 = _two_ranks(cfg, tmp_path)
    assert r0["files"] == r1["files"] and len(r0["files"]) == 1   # one file, written once, read by both
    cache = Path(r0["files"][0])
    assert cache.parent == tmp_path / "run" / ".tokenized" and r0["n"] == r1["n"] == 2 * len(PAIRS)
