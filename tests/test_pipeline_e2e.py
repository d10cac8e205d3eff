"""The whole job on the bundled samples, with reduced training, and every output loaded back through
the Hugging Face API a consumer would use."""

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    cmd = [sys.executable, str(REPO / "scripts" / "run_pipeline.py"), "--output-dir", str(out),
           "--max-steps", "40", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Run summary" in proc.stdout
    return out


def test_dataset_loads_with_three_disjoint_splits(run_dir):
    import datasets

    ds = datasets.load_dataset(str(run_dir / "dataset"))
    assert set(ds) >= {"train", "validation", "test"}
    assert all(ds[s].num_rows > 0 for s in ("train", "validation", "test"))
    train = {(r["bn"], r["en"]) for r in ds["train"]}
    for split in ("validation", "test"):
        assert not train & {(r["bn"], r["en"]) for r in ds[split]}
    report = json.loads((run_dir / "report.json").read_text())
    corpus = report["corpus"]
    assert corpus["in"] == corpus["kept"] + corpus["rejected"]
    assert sum(corpus["splits"].values()) == corpus["kept"]
    assert {s["source"] for s in report["sources"]} >= {"tatoeba", "tico19", "wikipedia-bn", "wikipedia-en"}


def test_model_and_tokenizer_load_and_translate(run_dir):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_dir / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(run_dir / "model")
    enc = tok([">>bn<< I eat rice."], return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=8)
    assert out.shape[0] == 1 and out.shape[1] > 1
    card = (run_dir / "model" / "README.md").read_text()
    report = json.loads((run_dir / "report.json").read_text())
    chrf = report["evaluation"]["en-bn"]["chrf"]
    assert f"{chrf:.2f}"[:-1] in card or f"{chrf:.1f}" in card  # the card carries the run's real score
    assert report["training"]["parameters"] == model.num_parameters()


def test_onnx_model_loads_and_matches_pytorch(run_dir):
    from optimum.onnxruntime import ORTModelForSeq2SeqLM

    from bilingual.inference.translator import Translator

    ORTModelForSeq2SeqLM.from_pretrained(run_dir / "model" / "onnx")
    texts = ["I eat rice.", "Where is the hospital?"]
    torch_out = Translator(run_dir / "model", "pytorch").translate(texts, "en", "bn", max_new_tokens=16)
    onnx_out = Translator(run_dir / "model", "onnx").translate(texts, "en", "bn", max_new_tokens=16)
    assert torch_out == onnx_out
    report = json.loads((run_dir / "report.json").read_text())
    assert report["export"]["onnx"]["passed"] is True


def test_report_has_every_stage_and_scores(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    names = [s["name"] for s in report["stages"]]
    assert names == ["collect", "build", "tokenizer", "train", "evaluate", "export", "card", "publish"]
    assert all(s["seconds"] >= 0 for s in report["stages"])
    for direction in ("bn-en", "en-bn"):
        res = report["evaluation"][direction]
        assert 0 <= res["chrf"] <= 100 and "nc:6" in res["signatures"]["chrf"] and res["n"] > 0
    assert (run_dir / "report.html").stat().st_size > 10_000
    assert (run_dir / "publish" / "model" / "onnx" / "encoder_model.onnx").exists()


def test_tokenizer_covers_the_corpus(run_dir):
    """Issue 5's coverage bar, on the corpus this run built: ≥ 99.99 % of characters map to known
    pieces and decode(encode(x)) gives back the normalized text for ≥ 99.9 % of sentences."""
    import datasets
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_dir / "model")
    ds = datasets.load_dataset(str(run_dir / "dataset"), split="train")
    texts = [t for row in ds for t in (row["bn"], row["en"])]
    from collections import Counter

    chars = Counter(c for text in texts for c in text if not c.isspace())
    unknown = {c for c in chars if tok.unk_token_id in tok(c, add_special_tokens=False)["input_ids"]}
    unknown_chars, total_chars = sum(chars[c] for c in unknown), sum(chars.values())
    same = sum(tok.decode(tok(t, add_special_tokens=False)["input_ids"]) == unicodedata.normalize("NFC", t)
               for t in texts)
    assert 1 - unknown_chars / total_chars >= 0.9999
    assert same / len(texts) >= 0.999


def _rerun(run_dir, *args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "run_pipeline.py"), "--output-dir", str(run_dir),
                           "--quiet", *args], capture_output=True, text=True, timeout=300)


def test_rerun_skips_finished_stages(run_dir):
    before = json.loads((run_dir / "report.json").read_text())["stages"]
    proc = _rerun(run_dir, "--max-steps", "40")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("already done") == len(before)
    after = json.loads((run_dir / "report.json").read_text())["stages"]
    assert after == before


def test_rerun_with_other_settings_is_refused(run_dir, tmp_path):
    """Other training steps, or an edited recipe, would mix stages of two runs: refused, nothing touched."""
    report = (run_dir / "report.json").read_bytes()
    proc = _rerun(run_dir)  # the recipe's own max_steps instead of 40
    assert proc.returncode != 0
    assert "other settings (changed: train_overrides)" in proc.stderr and "new --output-dir" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one line, no traceback
    recipe = tmp_path / "recipe.yaml"
    text = (REPO / "recipes" / "pipeline" / "default.yaml").read_text(encoding="utf-8")
    recipe.write_text(text.replace("eval_num_beams: 4", "eval_num_beams: 2"), encoding="utf-8")
    proc = _rerun(run_dir, "--max-steps", "40", "--recipe", str(recipe))
    assert proc.returncode != 0 and "changed: recipe.eval_num_beams" in proc.stderr
    assert (run_dir / "report.json").read_bytes() == report


def _text_files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".md", ".json", ".txt", ".yaml", ".jinja"):
            yield path, path.read_text(encoding="utf-8")


def _assert_public(tree: Path, *local: Path):
    """Nothing published names a folder of the machine that built it."""
    for path, text in _text_files(tree):
        for folder in local:
            assert str(folder) not in text, f"{path} names {folder}"


def _model_index_configs_exist(tree: Path):
    """Every dataset config the model card's model-index names for the published dataset, the dataset card has."""
    from huggingface_hub import DatasetCard, ModelCard

    model = ModelCard.load(tree / "model" / "README.md").data
    dataset = DatasetCard.load(tree / "dataset" / "README.md").data
    configs = {c["config_name"] for c in dataset.configs}
    named = [(r.dataset_type, r.dataset_config) for r in model.eval_results]
    assert named
    for dataset_type, config in named:
        if dataset_type == model.datasets[0]:
            assert config in configs, (config, configs)


def _no_eval_overlap_published(tree: Path):
    import pyarrow.parquet as pq

    for shard in (tree / "dataset" / "rejects").glob("*.parquet"):
        assert "eval_overlap" not in pq.read_table(shard, columns=["reject_step"])["reject_step"].to_pylist()


def test_published_tree_is_public_and_consistent(run_dir):
    tree = run_dir / "publish"
    _assert_public(tree, run_dir, REPO)
    _model_index_configs_exist(tree)
    _no_eval_overlap_published(tree)
    card = (tree / "model" / "README.md").read_text(encoding="utf-8")
    body = card.split("\n---\n", 1)[1].lstrip()
    assert body.startswith("# bilingual-mt: pipeline smoke test, not a translator")  # 40 steps do not translate
    assert 'subfolder="onnx", use_merged=False' in card
    report = json.loads((run_dir / "report.json").read_text())
    overlap = [s for s in report["corpus"]["steps"] if s["step"] == "eval_overlap"]
    assert overlap, "the default recipe removes the evaluation sets"


def test_step_by_step_card_and_publish(run_dir, tmp_path):
    """build → train → evaluate → card → publish, each as its own command, from what each stage wrote."""
    import shutil

    train = tmp_path / "train"
    shutil.copytree(run_dir / "train", train, ignore=shutil.ignore_patterns("README.md"))
    evaluation = tmp_path / "evaluation.json"
    shutil.copyfile(run_dir / "evaluation" / "evaluation.json", evaluation)

    def bilingual(*args):
        proc = subprocess.run([sys.executable, "-m", "bilingual.cli", "--quiet", *map(str, args)],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    proc = bilingual("card", "--model", train, "--evaluation", evaluation, "--test-set", "held-out test split")
    assert "made from" in proc.stdout and "smoke test" in proc.stdout
    card = (train / "README.md").read_text(encoding="utf-8")
    scores = json.loads(evaluation.read_text())
    assert f"{scores['en-bn']['chrf']:.2f}" in card and "held-out test split" in card
    assert "Not available: the run report has no training section" not in card
    bilingual("publish", "--dataset", run_dir / "dataset", "--model", train, "--dry-run", tmp_path / "out")
    tree = tmp_path / "out"
    assert (tree / "model" / "model.safetensors").exists() and not list((tree / "model").glob("checkpoint-*"))
    _assert_public(tree, run_dir, tmp_path, REPO)
    _no_eval_overlap_published(tree)
