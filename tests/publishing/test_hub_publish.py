"""Publishing against a real HTTP server on 127.0.0.1 that speaks the Hub API huggingface_hub 0.36 uses.

Every real publish runs `scripts/publish.py` in a subprocess with HF_ENDPOINT pointing at the local server
(set before huggingface_hub is imported there), Xet disabled and a private HF_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _hub_helpers import LocalHub, built_fixture, copy_tree, sample_report, tree_bytes
from bilingual.publishing import cards
from bilingual.publishing import hub
from bilingual.commands import publish as publish_cmd

REPO = Path(__file__).resolve().parents[2]
TOKEN = "hf_test_token"


@pytest.fixture(scope="module")
def release(tmp_path_factory, tiny_model):
    """A run folder ready to publish: dataset with card, model with card (from a report) and onnx/."""
    built = built_fixture(tiny_model)
    root = tmp_path_factory.mktemp("release")
    model = copy_tree(built["model"], root / "model")
    dataset = copy_tree(built["dataset"], root / "dataset")
    cards.write_model_card(model, sample_report(model))
    return {"model": model, "dataset": dataset, "root": root}


@pytest.fixture(scope="module")
def dry_tree(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("dry")
    rc = publish_cmd.main(["--dataset", str(release["dataset"]), "--model", str(release["model"]),
                           "--version", "v1", "--dry-run", str(out), "--quiet"])
    assert rc == 0
    return out


def run_publish(hub_url: str, args: list[str], tmp_path: Path, token: str | None = TOKEN, login_token: str | None = None):
    """scripts/publish.py in a subprocess pointed at the local Hub; returns the CompletedProcess."""
    hf_home = tmp_path / "hf_home"
    hf_home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(HF_ENDPOINT=hub_url, HF_HUB_DISABLE_XET="1", HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(REPO), BILINGUAL_HUB_RETRY_WAIT="0.05", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    if token is not None:
        env["HF_TOKEN"] = token
    if login_token is not None:  # what `hf auth login` stores
        (hf_home / "token").write_text(login_token)
    return subprocess.run([sys.executable, str(REPO / "scripts" / "publish.py"), *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def _args(release, version="v1"):
    return ["--dataset", str(release["dataset"]), "--model", str(release["model"]), "--version", version]


def _assert_no_token(token: str, *texts: str, folders=(), blobs=()):
    for text in texts:
        assert token not in text
    for folder in folders:
        for rel, data in tree_bytes(folder).items():
            assert token.encode() not in data, f"token written into {folder}/{rel}"
    for data in blobs:
        assert token.encode() not in data


def test_dry_run_tree_loads(dry_tree, release):
    """The dry-run tree is the upload selection, and consumers can load it."""
    import datasets
    from optimum.onnxruntime import ORTModelForSeq2SeqLM
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    ds_files = set(tree_bytes(dry_tree / "dataset"))
    assert ds_files == {"README.md", "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet",
                        "data/test-00000-of-00001.parquet"}  # no stats.json, no half-written .tmp
    model_files = set(tree_bytes(dry_tree / "model"))
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "onnx/encoder_model.onnx", "onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx"} <= model_files
    assert not any(f.startswith("checkpoint-") or f == "training_args.bin" for f in model_files)
    # byte-identical copies of the sources
    assert tree_bytes(dry_tree / "dataset")["README.md"] == (release["dataset"] / "README.md").read_bytes()

    ds = datasets.load_dataset(str(dry_tree / "dataset"))
    assert {k: v.num_rows for k, v in ds.items()} == {"train": 4, "validation": 1, "test": 1}
    assert ds["train"][0]["bn"] == "আমি ভাত খাই।"
    tok = AutoTokenizer.from_pretrained(dry_tree / "model")
    model = AutoModelForSeq2SeqLM.from_pretrained(dry_tree / "model")
    ort = ORTModelForSeq2SeqLM.from_pretrained(dry_tree / "model", subfolder="onnx")
    batch = tok([">>en<< আমি ভাত খাই।"], return_tensors="pt")
    assert ">>en<<" in tok.convert_ids_to_tokens(batch["input_ids"][0])
    a = model.generate(**batch, max_new_tokens=6, do_sample=False)
    b = ort.generate(**batch, max_new_tokens=6, do_sample=False)
    assert a.tolist() == b.tolist()


def test_publish_matches_dry_run_with_retries(release, dry_tree, tmp_path):
    """Real upload: one commit per artifact, files byte-identical to the dry run, a tag per repo; a 500 on the
    commit and on an LFS PUT are each retried; the token (from the stored login here) never leaks."""
    with LocalHub() as server:
        server.state.fail_once = {"commit": 500, "lfs_put": 500}
        proc = run_publish(server.url, _args(release) + ["--quiet"], tmp_path, token=None, login_token=TOKEN)
        assert proc.returncode == 0, proc.stderr[-2000:]
        state = server.state
        assert sorted(state.failed) == ["commit", "lfs_put"]  # both failures happened ...
        assert "retrying" in proc.stderr and "HTTP 500" in proc.stderr  # ... our commit retry said so
        assert server.files("dataset", "org/bilingual") == tree_bytes(dry_tree / "dataset")
        assert server.files("model", "org/bilingual-mt") == tree_bytes(dry_tree / "model")
        ds_repo, model_repo = state.repos[("dataset", "org/bilingual")], state.repos[("model", "org/bilingual-mt")]
        assert [c["summary"] for c in ds_repo["commits"]] == ["Upload dataset v1"]
        assert [c["summary"] for c in model_repo["commits"]] == ["Upload tokenizer (v1)",
                                                                  "Upload model and ONNX export (v1)"]
        assert set(model_repo["commits"][0]["paths"]) == {"tokenizer.json", "tokenizer_config.json",
                                                          "special_tokens_map.json"}
        assert "data/train-00000-of-00001.parquet" in ds_repo["lfs_paths"]  # binary shards went through LFS
        assert ds_repo["tags"] == {"v1": {"target": ds_repo["commits"][-1]["oid"], "message": "bilingual release v1"}}
        assert model_repo["tags"]["v1"]["target"] == model_repo["commits"][-1]["oid"]
        assert "published v1" in proc.stdout
        _assert_no_token(TOKEN, proc.stdout, proc.stderr, folders=[dry_tree, release["root"]],
                         blobs=[*state.raw_bodies, *state.lfs.values()])

        # publishing the same version again refuses to move the tag
        again = run_publish(server.url, _args(release) + ["--quiet"], tmp_path)
        assert again.returncode == 2
        assert again.stderr.strip() == ("bilingual publish: error: dataset repo org/bilingual already has a tag v1: publish a new "
                                        "version instead of moving a released one")
        assert len(ds_repo["commits"]) == 1 and len(model_repo["commits"]) == 2  # refused before committing


def test_refused_token_ends_clearly_without_tag(release, tmp_path):
    secret = "hf_wrong_token_ABC123"
    with LocalHub() as server:
        proc = run_publish(server.url, _args(release), tmp_path, token=secret)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "401" in lines[0] and "check HF_TOKEN" in lines[0]
        assert "Traceback" not in proc.stderr
        assert not server.state.repos  # nothing created, nothing committed, no tag
        _assert_no_token(secret, proc.stdout, proc.stderr, blobs=server.state.raw_bodies)


def test_token_revoked_midway_leaves_no_release_tag(release, tmp_path):
    """The dataset commit succeeds, then the token is refused: the run fails clearly and tags nothing."""
    with LocalHub(revoke_after_commits=1) as server:
        proc = run_publish(server.url, _args(release, "v2") + ["--quiet"], tmp_path)
        assert proc.returncode == 2
        line = proc.stderr.strip().splitlines()[-1]
        assert line.startswith("bilingual publish: error: ") and "401" in line and "check HF_TOKEN" in line and "no release tag" in line
        repos = server.state.repos
        assert len(repos[("dataset", "org/bilingual")]["commits"]) == 1
        assert not repos[("model", "org/bilingual-mt")]["commits"]
        assert all(not r["tags"] for r in repos.values())
        _assert_no_token(TOKEN, proc.stdout, proc.stderr)


def test_persistent_server_error_gives_up_without_tag(release, tmp_path):
    with LocalHub() as server:
        server.state.fail_always = {"commit": 503}
        proc = run_publish(server.url, _args(release, "v3") + ["--quiet"], tmp_path)
        assert proc.returncode == 2
        assert server.state.failed == ["commit"] * hub.COMMIT_ATTEMPTS  # retried, then gave up
        line = proc.stderr.strip().splitlines()[-1]
        assert line.startswith("bilingual publish: error: the Hub returned an error while committing the dataset to org/bilingual")
        assert "503" in line and line.endswith("no release tag was created")
        assert all(not r["tags"] and not r["commits"] for r in server.state.repos.values())


def test_no_token_at_all(release, tmp_path):
    proc = run_publish("http://127.0.0.1:9", _args(release), tmp_path, token=None)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("bilingual publish: error: no Hub token: set HF_TOKEN or run `hf auth login` "
                                   "(or use --dry-run DIR)")


def test_preflight_messages(release, tmp_path, capsys):
    """Bad input is caught before anything is uploaded: one line naming what is missing, exit code 2."""
    def fails(args, *needles):
        assert publish_cmd.main(["--version", "v1", "--dry-run", str(tmp_path / "out")] + args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("bilingual publish: error: "), err
        for needle in needles:
            assert needle in err, err
        assert not (tmp_path / "out" / "model").exists() and not (tmp_path / "out" / "dataset").exists()

    no_tok = copy_tree(release["model"], tmp_path / "no_tok")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (no_tok / name).unlink()
    fails(["--model", str(no_tok)], str(no_tok), "has no tokenizer", "save_pretrained")

    no_card = copy_tree(release["dataset"], tmp_path / "no_card")
    (no_card / "README.md").unlink()
    fails(["--dataset", str(no_card), "--model", str(release["model"])], str(no_card), "no README.md card")

    no_onnx = copy_tree(release["model"], tmp_path / "no_onnx")
    shutil.rmtree(no_onnx / "onnx")
    fails(["--model", str(no_onnx), "--onnx"], "no encoder_model.onnx", "bilingual export", "--no-onnx")
    # ... by default (and with --no-onnx) a model that was never exported goes through, with no onnx/ in the tree
    for flags in ([], ["--no-onnx"]):
        shutil.rmtree(tmp_path / "ok", ignore_errors=True)
        assert publish_cmd.main(["--model", str(no_onnx), "--version", "v1",
                                 "--dry-run", str(tmp_path / "ok"), "--quiet", *flags]) == 0
        capsys.readouterr()
        assert (tmp_path / "ok" / "model" / "config.json").exists()
        assert not (tmp_path / "ok" / "model" / "onnx").exists()

    no_model_card = copy_tree(release["model"], tmp_path / "no_model_card")
    (no_model_card / "README.md").unlink()
    fails(["--model", str(no_model_card)], "no README.md model card", "bilingual card --model")

    bad_yaml = copy_tree(release["dataset"], tmp_path / "bad_yaml")
    (bad_yaml / "README.md").write_text("---\nlanguage: [bn\n---\n# x\n", encoding="utf-8")
    fails(["--dataset", str(bad_yaml)], "README.md", "YAML metadata is invalid")

    fails(["--dataset", str(release["dataset"]), "--version", "bad tag!"], "not usable as a tag")

    # a card generated for another repo name is published with a warning that says how to fix it
    assert publish_cmd.main(["--model", str(release["model"]), "--model-repo", "other/mt", "--version", "v1",
                             "--dry-run", str(tmp_path / "warn"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "does not show loading from other/mt" in err and "--model-repo other/mt" in err
    fails([], "nothing to publish", "--dataset DIR", "--model DIR")
    assert publish_cmd.main(["--dataset", str(release["dataset"]), "--version", "v1",
                             "--dry-run", str(release["dataset"] / "out")]) == 2
    assert "is inside" in capsys.readouterr().err and not (release["dataset"] / "out").exists()


def test_plan_is_the_upload_selection(release):
    """The dry run and the upload share one selection function; it skips leftovers and temporary files."""
    arts = hub.plan(release["dataset"], release["model"], "a/ds", "a/m", "v3")
    assert [(a.name, a.repo_id, a.repo_type) for a in arts] == [
        ("dataset", "a/ds", "dataset"), ("tokenizer", "a/m", "model"), ("model", "a/m", "model")]
    for repo in ("a/ds", "a/m"):
        in_repo = [rel for a in arts if a.repo_id == repo for _, rel in a.files]
        assert len(in_repo) == len(set(in_repo))
    paths = [rel for a in arts for _, rel in a.files]
    assert not any(p.endswith(".tmp") or "/." in p or p.startswith(".") for p in paths)
    assert "stats.json" not in paths and "training_args.bin" not in paths


def test_library_dry_run_result(release, tmp_path):
    """`publish()` as the pipeline calls it: the returned plan lists exactly the files written."""
    result = hub.publish(release["dataset"], release["model"], "a/ds", "a/m", "v9", dry_run_dir=tmp_path / "dry")
    assert result["dry_run"] is True and result["version"] == "v9" and result["warnings"]  # card names org/bilingual-mt
    written = {sub: set(tree_bytes(Path(path))) for sub, path in result["trees"].items()}
    planned = {"dataset": set(), "model": set()}
    for art in result["plan"]:
        planned["dataset" if art["repo_type"] == "dataset" else "model"].update(art["paths"])
    assert written == planned
    assert not [p for p in (tmp_path / "dry").iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_int8_export_is_published_beside_onnx(release, tmp_path):
    """`onnx-int8/` (the serving stage's int8 export) goes with the model when it holds an encoder; the card
    then shows how to load it."""
    model = copy_tree(release["model"], tmp_path / "model")
    (model / "onnx-int8").mkdir()
    arts = hub.plan(None, model, version="v1")
    assert not any(rel.startswith("onnx-int8/") for a in arts for _, rel in a.files)  # empty folder: skipped
    shutil.rmtree(model / "onnx-int8")
    shutil.copytree(model / "onnx", model / "onnx-int8")
    (model / "onnx-int8" / "notes.bin").write_bytes(b"stray")
    cards.write_model_card(model, sample_report(model))
    assert 'subfolder="onnx-int8"' in (model / "README.md").read_text(encoding="utf-8")
    paths = {rel for a in hub.plan(None, model, version="v1") for _, rel in a.files}
    assert {"onnx-int8/encoder_model.onnx", "onnx-int8/decoder_model.onnx", "onnx-int8/config.json"} <= paths
    assert "onnx-int8/notes.bin" not in paths
    assert not any(rel.startswith("onnx-int8/") for a in hub.plan(None, model, version="v1", onnx=False)
                   for _, rel in a.files)


def test_publish_follows_the_backend_registry(release, tmp_path):
    """What goes with the model is decided by the backend registry (`backends.present`), not a folder list in
    publishing: an artifact registered as one more backend is uploaded with its own file endings, no code change."""
    from bilingual.inference import backends

    model = copy_tree(release["model"], tmp_path / "model")
    (model / "extra").mkdir()
    (model / "extra" / "weights.extra").write_bytes(b"\0" * 16)
    (model / "extra" / "notes.tmp").write_bytes(b"stray")
    assert not any(rel.startswith("extra/") for a in hub.plan(None, model, version="v1") for _, rel in a.files)
    backends.register(backends.Backend("extra-test", "extra", "weights.extra", "bilingual.inference.backends.pytorch",
                                       9, "nothing", "a backend registered by this test", (".extra",)))
    try:
        paths = {rel for a in hub.plan(None, model, version="v1") for _, rel in a.files}
    finally:
        del backends.REGISTRY["extra-test"]
    assert "extra/weights.extra" in paths and "extra/notes.tmp" not in paths


def test_ctranslate2_folder_is_published_and_loads_from_the_dry_run(release, tmp_path):
    """`ctranslate2/` (the second serving artifact) goes with the model when it holds a converted model; the
    card shows how to run it, and the dry-run copy translates exactly as the original folder does."""
    import ctranslate2

    from bilingual.inference.ctranslate2 import _converter
    from bilingual.inference.export import copy_side_files

    model = copy_tree(release["model"], tmp_path / "model")
    assert not any(rel.startswith("ctranslate2/") for a in hub.plan(None, model, version="v1") for _, rel in a.files)
    _converter(model).convert(str(model / "ctranslate2"), force=True)
    copy_side_files(model, model / "ctranslate2", config=False)
    (model / "ctranslate2" / "scratch.tmp").write_bytes(b"stray")
    cards.write_model_card(model, sample_report(model))
    card = (model / "README.md").read_text(encoding="utf-8")
    assert "ctranslate2.Translator(path" in card and 'allow_patterns=["ctranslate2/*"]' in card
    paths = {rel for a in hub.plan(None, model, version="v1", onnx=False) for _, rel in a.files}
    assert {"ctranslate2/model.bin", "ctranslate2/config.json", "ctranslate2/tokenizer.json"} <= paths
    assert "ctranslate2/scratch.tmp" not in paths

    out = tmp_path / "dry"
    assert publish_cmd.main(["--model", str(model), "--version", "v1", "--dry-run", str(out), "--quiet"]) == 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "model" / "ctranslate2")
    source = [tok.convert_ids_to_tokens(tok.encode(">>en<< আমি ভাত খাই।"))]
    fixed = dict(min_decoding_length=5, max_decoding_length=5)
    expected = ctranslate2.Translator(str(model / "ctranslate2")).translate_batch(source, **fixed)
    got = ctranslate2.Translator(str(out / "model" / "ctranslate2")).translate_batch(source, **fixed)
    assert got[0].hypotheses == expected[0].hypotheses and len(got[0].hypotheses[0]) > 0


def test_release_tag_defaults_to_the_version(release, tmp_path, capsys):
    from bilingual import __version__

    assert publish_cmd.main(["--dataset", str(release["dataset"]), "--dry-run", str(tmp_path / "out")]) == 0
    assert f"publish dry run v{__version__} ->" in capsys.readouterr().out


def test_eval_overlap_rejects_are_not_published(release, tmp_path):
    """Rejects that overlap the test sets stay home; the other rejects are published with their reasons."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dataset = copy_tree(release["dataset"], tmp_path / "dataset")
    (dataset / "rejects").mkdir()
    shard = dataset / "rejects" / "rejects-00000.parquet"
    pq.write_table(pa.table({"bn": ["ক", "খ", "গ"], "en": ["a", "b", "c"],
                             "reject_step": ["eval_overlap", "dedup", None],
                             "reject_reason": ["in_eval_set", "exact_duplicate", None]}), shard)
    before = shard.read_bytes()
    clean = dataset / "rejects" / "rejects-00001.parquet"
    pq.write_table(pa.table({"bn": ["ঘ"], "en": ["d"], "reject_step": ["langid"], "reject_reason": ["not_bn"]}), clean)
    out = tmp_path / "out"
    hub.publish(dataset, None, version="v1", dry_run_dir=out)
    published = pq.read_table(out / "dataset" / "rejects" / "rejects-00000.parquet").to_pylist()
    assert [r["reject_step"] for r in published] == ["dedup", None]
    assert (out / "dataset" / "rejects" / "rejects-00001.parquet").read_bytes() == clean.read_bytes()
    assert shard.read_bytes() == before  # the dataset folder itself is not changed


def test_published_files_honour_the_umask(release, tmp_path):
    """Under umask 022 cards and the dry-run tree are readable by others (0644 files, 0755 folders)."""
    import stat

    old = os.umask(0o022)
    try:
        model = copy_tree(release["model"], tmp_path / "model")
        card = cards.write_model_card(model, sample_report(model))
        out = tmp_path / "out"
        hub.publish(release["dataset"], model, version="v1", dry_run_dir=out)
    finally:
        os.umask(old)
    assert stat.S_IMODE(card.stat().st_mode) == 0o644
    for path in [out, *out.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path
