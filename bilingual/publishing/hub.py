"""Publishing the dataset folder, the tokenizer and the model (+ ONNX export) to the Hugging Face Hub.

One function decides which files make up each artifact (`plan`); the dry run copies exactly those files,
the real upload commits exactly those files, so what a dry run shows is what the Hub gets.

Order of a real publish: resolve the token and check it (whoami) → create the repos (exist_ok) → one commit
per artifact (dataset, tokenizer, model) → version tags last. A failure anywhere before the tags leaves no
release tag, so a tag always names a complete release. The token is never printed, logged or written: it
only travels in the Authorization header, and every error message we raise is scrubbed of it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bilingual.storage import current_umask

from bilingual import layout
from bilingual.inference import backends
from bilingual.layout import (CARD_FILE, DEFAULT_DATASET_REPO, DEFAULT_MODEL_REPO, EVAL_OVERLAP_STEP, ONNX_DIR,
                              ONNX_MARKER)

COMMIT_ATTEMPTS = 4

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "vocab.txt", "merges.txt", "source.spm", "target.spm", "spiece.model",
                   "sentencepiece.bpe.model", "chat_template.jinja")
MODEL_ROOT_FILES = ("config.json", "generation_config.json", CARD_FILE, "model.safetensors.index.json",
                    "pytorch_model.bin.index.json")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class PublishError(RuntimeError):
    """A problem the user can fix (missing files, refused token); the message says what to do."""


@dataclass
class Artifact:
    """One commit: `files` are (local path, path in repo), `subdir` is where a dry run puts them."""

    name: str
    repo_id: str
    repo_type: str
    subdir: str
    commit_message: str
    files: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for p, _ in self.files)


# ------------------------------------------------------------------------------------------- file selection


def _visible(path: Path, root: Path) -> bool:
    """Skip hidden and temporary files (an interrupted atomic write leaves `.name.xxx.tmp`)."""
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") for p in parts) and not path.name.endswith(".tmp")


def dataset_files(dataset_dir, staging: Optional[Path] = None) -> list[tuple[Path, str]]:
    """The dataset card and every Parquet shard, at the same relative paths (what `load_dataset` reads).

    Rejects of the eval-overlap step are pairs that overlap public test sets: publishing them would hand the
    test data back to anyone training on the dataset, so reject shards holding any are rewritten without them
    into `staging` (a folder the caller owns) and that copy is published instead."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise PublishError(f"dataset folder {root} does not exist")
    card = root / CARD_FILE
    if not card.is_file():
        raise PublishError(f"dataset folder {root} has no README.md card: build the dataset card "
                           "(bilingual.publishing.dataset_card, run by the corpus build) before publishing")
    _check_card(card, "dataset")
    shards = [p for p in sorted(root.rglob("*.parquet")) if p.is_file() and _visible(p, root)]
    if not shards:
        raise PublishError(f"dataset folder {root} has no Parquet shards (*.parquet): build the corpus first")
    files = [(card, CARD_FILE)]
    for shard in shards:
        rel = shard.relative_to(root).as_posix()
        if rel.startswith(f"{layout.REJECTS_DIR}/"):
            shard = _without_eval_overlap(shard, staging / rel if staging is not None else None)
        files.append((shard, rel))
    return files


def _without_eval_overlap(shard: Path, copy: Optional[Path]) -> Path:
    """`shard` itself when none of its rows was rejected for overlapping a test set, else a copy without them."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        if "reject_step" not in pq.read_schema(shard).names:
            return shard
        table = pq.read_table(shard)
    except Exception as err:  # pyarrow raises ArrowInvalid/OSError for a torn shard
        raise PublishError(f"{shard}: not a readable Parquet file ({type(err).__name__}): rebuild the dataset") from None
    overlap = pc.fill_null(pc.equal(table["reject_step"], EVAL_OVERLAP_STEP), False)
    if not pc.any(overlap).as_py():
        return shard
    if copy is None:
        raise PublishError(f"{shard} holds pairs rejected for overlapping the test sets; they are never published")
    from bilingual.storage import write_table

    return write_table(copy, table.filter(pc.invert(overlap)))


def tokenizer_files(model_dir) -> list[tuple[Path, str]]:
    root = Path(model_dir)
    found = [(root / n, n) for n in TOKENIZER_FILES if (root / n).is_file()]
    names = {n for _, n in found}
    vocab = names - {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.jinja"}
    if "tokenizer_config.json" not in names and "tokenizer.json" not in names or not vocab:
        raise PublishError(f"model folder {root} has no tokenizer (no tokenizer.json / tokenizer_config.json with a "
                           f"vocabulary file): save it beside the model with tokenizer.save_pretrained('{root}')")
    return found


def model_files(model_dir, onnx: Optional[bool] = True) -> list[tuple[Path, str]]:
    """config, generation config, card and weights at the root, plus every exported artifact the backend registry
    finds (`backends.present`): `onnx/` (and `onnx-int8/`) — required with onnx=True, when exported with
    onnx=None, never with onnx=False — and `ctranslate2/`; never checkpoints, optimizer states, training arguments or other stray files."""
    root = Path(model_dir)
    if not root.is_dir():
        raise PublishError(f"model folder {root} does not exist")
    if not (root / "config.json").is_file():
        raise PublishError(f"model folder {root} has no config.json: not a saved model (model.save_pretrained)")
    weights = sorted(root.glob("*.safetensors")) or sorted(root.glob("pytorch_model*.bin"))
    if not weights:
        raise PublishError(f"model folder {root} has no weights (*.safetensors or pytorch_model.bin)")
    if not (root / CARD_FILE).is_file():
        raise PublishError(f"model folder {root} has no README.md model card: run `bilingual card --model {root}` "
                           "first (with --report RUN/report.json, or --evaluation EVALUATION.json)")
    _check_card(root / CARD_FILE, "model")
    files = [(root / n, n) for n in MODEL_ROOT_FILES if (root / n).is_file()]
    files += [(p, p.name) for p in weights]
    exported = {e["backend"]: Path(e["dir"]) for e in backends.present(root)
                if backends.get(e["backend"]).folder is not None}
    if onnx and "onnx" not in exported:
        raise PublishError(f"{root / ONNX_DIR} has no {ONNX_MARKER}: run `bilingual export {root}` first, "
                           "or publish without ONNX (--no-onnx)")
    onnx_module = backends.get("onnx").module
    for name, sub in exported.items():  # the registry's artifacts, each with its own file endings
        if backends.get(name).module == onnx_module and (onnx is False or "onnx" not in exported):
            continue  # ONNX exports (onnx/, onnx-int8/) go only when allowed and the fp32 export is there
        files += _subfolder_files(sub, root, backends.get(name).files)
    return files


def _subfolder_files(sub: Path, root: Path, suffixes: tuple) -> list[tuple[Path, str]]:
    return [(p, p.relative_to(root).as_posix()) for p in sorted(sub.rglob("*"))
            if p.is_file() and _visible(p, root) and p.name.endswith(suffixes)]


def _check_card(path: Path, kind: str) -> None:
    """The card's YAML header must parse: the Hub rejects a commit whose README.md metadata is invalid."""
    from huggingface_hub import DatasetCard, ModelCard

    try:
        (DatasetCard if kind == "dataset" else ModelCard)(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # yaml errors are ValueError subclasses here or re-raised
        raise PublishError(f"{path}: the card's YAML metadata is invalid ({str(err).splitlines()[0]})") from None
    except Exception as err:  # yaml.YAMLError
        raise PublishError(f"{path}: the card's YAML metadata is invalid ({type(err).__name__})") from None


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise PublishError(f"version {version!r} is not usable as a tag: use letters, digits, '.', '_' or '-' "
                           "(for example v2026.11.26)")
    return version


def plan(dataset_dir=None, model_dir=None, dataset_repo: str = DEFAULT_DATASET_REPO,
         model_repo: str = DEFAULT_MODEL_REPO, version: str = "v0", onnx: Optional[bool] = True,
         staging: Optional[Path] = None) -> list[Artifact]:
    """The commits a publish makes, with their files; all pre-flight checks happen here. `staging` is a folder
    for files that are published in a changed form (reject shards without test-set overlaps)."""
    check_version(version)
    if dataset_dir is None and model_dir is None:
        raise PublishError("nothing to publish: give --dataset DIR (a built dataset folder), --model DIR "
                           "(a trained model folder with its card) or both")
    artifacts = []
    if dataset_dir is not None:
        artifacts.append(Artifact("dataset", dataset_repo, "dataset", layout.DATASET_DIR,
                                  f"Upload dataset {version}", dataset_files(dataset_dir, staging)))
    if model_dir is not None:
        tok = tokenizer_files(model_dir)
        model = model_files(model_dir, onnx=onnx)
        with_onnx = any(rel.startswith(f"{ONNX_DIR}/") for _, rel in model)
        artifacts.append(Artifact("tokenizer", model_repo, "model", layout.MODEL_DIR,
                                  f"Upload tokenizer ({version})", tok))
        artifacts.append(Artifact("model", model_repo, "model", layout.MODEL_DIR,
                                  f"Upload model{' and ONNX export' if with_onnx else ''} ({version})", model))
    return artifacts


def card_warnings(artifacts: list[Artifact]) -> list[str]:
    """A model card whose loading snippet names another repo would send users to the wrong place."""
    out = []
    for art in artifacts:
        for src, rel in art.files:
            if art.name == "model" and rel == CARD_FILE:
                if f'from_pretrained("{art.repo_id}"' not in src.read_text(encoding="utf-8"):
                    out.append(f"{src} does not show loading from {art.repo_id}: regenerate it with "
                               f"`bilingual card --model {src.parent} --model-repo {art.repo_id}`")
    return out


# ------------------------------------------------------------------------------------------- dry run


def write_tree(artifacts: list[Artifact], out_dir) -> Path:
    """Copy each artifact's files to `out_dir/<subdir>/<path in repo>`; each subtree is replaced atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for subdir in dict.fromkeys(a.subdir for a in artifacts):
        tmp = Path(tempfile.mkdtemp(prefix=f".{subdir}.", suffix=".tmp", dir=out_dir))
        try:
            os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700: others could not read the tree
            for art in (a for a in artifacts if a.subdir == subdir):
                for src, rel in art.files:
                    dst = tmp / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
            final = out_dir / subdir
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out_dir


# ------------------------------------------------------------------------------------------- real upload


def resolve_token(token: Optional[str] = None) -> str:
    """The explicit token, else HF_TOKEN, else the huggingface_hub login."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PublishError("no Hub token: set HF_TOKEN or run `hf auth login` (or use --dry-run DIR)")
    return token


def _redact(text: str, token: Optional[str]) -> str:
    return text.replace(token, "***") if token else text


def _status(err: BaseException) -> Optional[int]:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _auth_error(err: BaseException, what: str, tags: list) -> PublishError:
    code = _status(err)
    reason = "refused the token (401 Unauthorized)" if code == 401 else "denied write access (403 Forbidden)"
    return PublishError(f"the Hub {reason} while {what}: check HF_TOKEN (or `hf auth login`) and that it "
                        f"may write to this repository; {_outcome(tags)}")


def _outcome(tags: list) -> str:
    if not tags:
        return "no release tag was created"
    return "tags already created: " + ", ".join(f"{t['repo_id']}@{t['tag']}" for t in tags)


def _first_line(err: BaseException, token: str) -> str:
    text = _redact(str(err), token).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _retryable(err: BaseException) -> bool:
    import requests

    code = _status(err)
    if code is not None:
        return code >= 500 or code == 429
    return isinstance(err, (requests.ConnectionError, requests.Timeout))


def _commit(api, art: Artifact, token: str):
    """One commit with all of the artifact's files. huggingface_hub retries LFS uploads itself (http_backoff)
    but not the commit call, so a transient 5xx/429/connection error is retried here; operations are rebuilt
    for each attempt because huggingface_hub mutates them, and already-uploaded LFS objects are not resent."""
    from huggingface_hub import CommitOperationAdd
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    wait = float(os.environ.get("BILINGUAL_HUB_RETRY_WAIT", "1"))

    def tell(state) -> None:
        err = state.outcome.exception()
        what = f"HTTP {_status(err)}" if _status(err) else type(err).__name__
        print(f"warning: commit of the {art.name} to {art.repo_id} failed ({what}); retrying in "
              f"{state.next_action.sleep:.1f}s (attempt {state.attempt_number + 1}/{COMMIT_ATTEMPTS})", file=sys.stderr)

    for attempt in Retrying(retry=retry_if_exception(_retryable), stop=stop_after_attempt(COMMIT_ATTEMPTS),
                            wait=wait_exponential(multiplier=wait, max=30 * wait), reraise=True, before_sleep=tell):
        with attempt:
            ops = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(src)) for src, rel in art.files]
            return api.create_commit(art.repo_id, ops, commit_message=art.commit_message, repo_type=art.repo_type,
                                     token=token)


def upload(artifacts: list[Artifact], version: str, token: Optional[str] = None, private: Optional[bool] = None,
           progress=None) -> dict:
    """Create repos, commit each artifact, then tag `version` on every repo touched. Returns what was done."""
    from huggingface_hub import HfApi
    from requests import HTTPError as HfHubHTTPError  # huggingface_hub's errors subclass it; whoami raises it bare

    token = resolve_token(token)
    api = HfApi(token=token)
    from bilingual.console import quiet

    if quiet():
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    done: dict = {"artifacts": [], "tags": []}
    step = "checking the token"
    try:
        api.whoami(token=token)
        repos = list(dict.fromkeys((a.repo_id, a.repo_type) for a in artifacts))
        for repo_id, repo_type in repos:
            step = f"creating {repo_type} repo {repo_id}"
            api.create_repo(repo_id, repo_type=repo_type, exist_ok=True, private=private, token=token)
            step = f"reading the tags of {repo_id}"
            if any(t.name == version for t in api.list_repo_refs(repo_id, repo_type=repo_type, token=token).tags):
                raise PublishError(f"{repo_type} repo {repo_id} already has a tag {version}: publish a new "
                                   "version instead of moving a released one")
        last_commit: dict[tuple[str, str], str] = {}
        for art in artifacts if progress is None else progress(artifacts, desc="commits", unit="commit"):
            step = f"committing the {art.name} to {art.repo_id}"
            info = _commit(api, art, token)
            last_commit[(art.repo_id, art.repo_type)] = info.oid
            done["artifacts"].append({"name": art.name, "repo_id": art.repo_id, "repo_type": art.repo_type,
                                      "files": len(art.files), "bytes": art.nbytes, "commit": info.oid,
                                      "url": str(info.commit_url)})
        for (repo_id, repo_type), oid in last_commit.items():
            step = f"tagging {repo_id} with {version}"
            try:
                api.create_tag(repo_id, tag=version, revision=oid, repo_type=repo_type,
                               tag_message=f"bilingual release {version}", token=token)
            except HfHubHTTPError as err:
                if _status(err) == 409:
                    raise PublishError(f"{repo_type} repo {repo_id} already has a tag {version}: publish a new "
                                       "version instead of moving a released one") from None
                raise
            done["tags"].append({"repo_id": repo_id, "repo_type": repo_type, "tag": version, "revision": oid})
    except HfHubHTTPError as err:
        if _status(err) in (401, 403):
            raise _auth_error(err, step, done["tags"]) from None
        raise PublishError(f"the Hub returned an error while {step}: {_first_line(err, token)}; "
                           f"{_outcome(done['tags'])}") from None
    except PublishError:
        raise
    except Exception as err:  # connection refused, timeouts after retries: name the step, never the token
        raise PublishError(f"publishing failed while {step}: {_first_line(err, token)}; "
                           f"{_outcome(done['tags'])}") from None
    return done


def publish(dataset_dir, model_dir, dataset_repo: str = DEFAULT_DATASET_REPO, model_repo: str = DEFAULT_MODEL_REPO,
            version: str = "v0", dry_run_dir=None, token: Optional[str] = None, onnx: Optional[bool] = True,
            private: Optional[bool] = None, progress=None) -> dict:
    """Publish the dataset folder (Parquet + card), the tokenizer and the model (+ onnx/) to the Hub, or write
    the exact upload tree under `dry_run_dir` (`dataset/`, `model/`) when given. Either folder may be None."""
    if dry_run_dir is not None:
        out = Path(dry_run_dir).resolve()
        for src in (dataset_dir, model_dir):
            if src is not None and (out == Path(src).resolve() or Path(src).resolve() in out.parents):
                raise PublishError(f"dry-run folder {dry_run_dir} is inside {src}: choose a folder outside the "
                                   "folders being published")
    with tempfile.TemporaryDirectory(prefix="bilingual-publish-") as staging:
        artifacts = plan(dataset_dir, model_dir, dataset_repo, model_repo, version, onnx=onnx, staging=Path(staging))
        return _publish(artifacts, version, dry_run_dir, token, private, progress)


def _publish(artifacts: list[Artifact], version: str, dry_run_dir, token, private, progress) -> dict:
    summary = {"version": version, "dry_run": dry_run_dir is not None,
               "plan": [{"name": a.name, "repo_id": a.repo_id, "repo_type": a.repo_type, "files": len(a.files),
                         "bytes": a.nbytes, "paths": [rel for _, rel in a.files]} for a in artifacts],
               "warnings": card_warnings(artifacts)}
    if dry_run_dir is not None:
        out = write_tree(artifacts, dry_run_dir)
        summary["dir"] = str(out)
        summary["trees"] = {a.subdir: str(Path(out) / a.subdir) for a in artifacts}
        return summary
    summary.update(upload(artifacts, version, token=token, private=private, progress=progress))
    return summary

