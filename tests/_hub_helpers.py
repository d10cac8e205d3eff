"""Fixtures for the card and publishing tests: a model folder (a copy of conftest's tiny model), a tiny dataset
folder (Parquet shards + card), a run report, and a local HTTP server that speaks the parts of the Hub API huggingface_hub 0.36 calls when we publish."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

PAIRS = [
    ("আমি ভাত খাই।", "I eat rice."),
    ("তুমি কেমন আছ?", "How are you?"),
    ("আজ আবহাওয়া ভালো।", "The weather is good today."),
    ("সে বই পড়ছে।", "She is reading a book."),
    ("আমরা বাড়ি যাচ্ছি।", "We are going home."),
    ("এটা আমার কলম।", "This is my pen."),
]


def build_model_dir(out_dir: Path, tiny_model: Path) -> Path:
    """A copy of the session's tiny model (conftest: product tokenizer, trained Marian, onnx/), plus training
    leftovers that must never be uploaded."""
    out_dir = Path(out_dir)
    shutil.copytree(tiny_model, out_dir, ignore=shutil.ignore_patterns("onnx-int8", "ctranslate2", "eval", "README.md",
                                                                       "TINY_MODEL_COMPLETE"))
    (out_dir / "checkpoint-1").mkdir(exist_ok=True)
    (out_dir / "checkpoint-1" / "optimizer.pt").write_bytes(b"not for upload")
    (out_dir / "training_args.bin").write_bytes(b"not for upload")
    return out_dir


DATASET_CARD = """---
language:
- bn
- en
license: other
task_categories:
- translation
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path: data/validation-*.parquet
  - split: test
    path: data/test-*.parquet
---

# bilingual (test fixture)

Six sentence pairs for publishing tests.
"""


def build_dataset_dir(out_dir: Path, card: bool = True) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    splits = {"train": PAIRS[:4], "validation": PAIRS[4:5], "test": PAIRS[5:]}
    for split, rows in splits.items():
        table = pa.table({"bn": [b for b, _ in rows], "en": [e for _, e in rows],
                          "source": ["fixture"] * len(rows)})
        pq.write_table(table, out_dir / "data" / f"{split}-00000-of-00001.parquet", compression="zstd")
    (out_dir / "stats.json").write_text(json.dumps({"in": 6, "kept": 6, "rejected": 0}))
    (out_dir / ".stats.json.123.tmp").write_text("half-written")
    if card:
        (out_dir / "README.md").write_text(DATASET_CARD, encoding="utf-8")
    return out_dir


def sample_report(model_dir: Path, bleu: float = 12.34, chrf: float = 41.5) -> dict:
    """A run report in the shape of COMMON.md's report.json, with distinctive numbers the card must carry."""
    sig = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1"
    return {
        "run_dir": str(model_dir.parent), "started_at": "2026-11-26T06:00:00+00:00",
        "finished_at": "2026-11-26T06:30:00+00:00", "versions": {"bilingual": "0.1.0", "transformers": "4.57.6"},
        "stages": [{"name": "train", "seconds": 12.5, "records_in": 6, "records_out": 6}],
        "sources": [{"source": "tatoeba", "license": "CC-BY 2.0 FR", "read": 4642, "kept": 4390, "quarantined": 3,
                     "status": "ok"},
                    {"source": "tico19", "license": "CC0 1.0", "read": 3071, "kept": 3011, "quarantined": 0,
                     "status": "ok"}],
        "corpus": {"steps": [{"step": "normalize", "in": 7713, "kept": 7713, "dropped": 0, "seconds": 0.4, "reasons": {}},
                             {"step": "dedup", "in": 7713, "kept": 7401, "dropped": 312, "seconds": 0.9,
                              "reasons": {"exact_duplicate": 300, "near_duplicate": 12}}],
                   "in": 7713, "kept": 7401, "rejected": 312,
                   "splits": {"train": 7001, "validation": 200, "test": 200}, "dataset_dir": "data/processed/v1"},
        "tokenizer": {"vocab_size": 8000, "path": str(model_dir)},
        "training": {"preset": "tiny-cpu", "model_type": "marian", "parameters": 987654,
                     "hyperparameters": {"learning_rate": 0.0005, "per_device_train_batch_size": 32,
                                         "num_train_epochs": 3, "warmup_steps": 50, "label_smoothing_factor": 0.1},
                     "log_history": [{"step": 10, "loss": 7.891, "learning_rate": 0.0005},
                                     {"step": 20, "loss": 5.432, "learning_rate": 0.0004},
                                     {"step": 20, "eval_loss": 5.9, "eval_chrf": 21.7, "eval_bleu": 3.3}],
                     "best_checkpoint": "checkpoint-20", "best_metric": 21.7, "tokens_per_second": 5120.0},
        "evaluation": {
            "bn-en": {"bleu": bleu, "chrf": chrf, "chrf++": chrf - 1.1, "n": 200, "backend": "pytorch", "num_beams": 4,
                      "test_set": "NTREX-128",
                      "signatures": {"bleu": sig, "chrf": "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.5.1",
                                     "chrf++": "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.5.1"}},
            "en-bn": {"bleu": bleu / 2, "chrf": chrf + 3, "chrf++": chrf + 2, "n": 200, "backend": "pytorch",
                      "num_beams": 4, "signatures": {"bleu": sig}},
        },
        "export": {"onnx": {"dir": str(model_dir / "onnx"), "identical": 1.0, "n": 50, "passed": True, "chrf_drop": 0.0},
                   "onnx_int8": {"identical": 0.96, "n": 50, "passed": True, "chrf_drop": 0.42}},
    }


# ---------------------------------------------------------------------------------------------- local Hub


class HubState:
    """What the fake Hub has received: repos, their files (path -> bytes) per commit, LFS objects, tags, and
    failure injections (fail the Nth call of an endpoint with a status code)."""

    def __init__(self, valid_tokens=("hf_test_token",), write_denied_repos=(), revoke_after_commits=None):
        self.lock = threading.Lock()
        self.valid_tokens = set(valid_tokens)
        self.write_denied_repos = set(write_denied_repos)  # token may read, may not write these
        self.repos: dict[tuple[str, str], dict] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.fail_once: dict[str, int] = {}  # endpoint kind -> status, consumed on first hit
        self.failed: list[str] = []
        self.fail_always: dict[str, int] = {}  # endpoint kind -> status, every time
        self.raw_bodies: list[bytes] = []
        self.revoke_after_commits = revoke_after_commits  # the token stops working after this many commits
        self.commits_done = 0

    def repo(self, repo_type: str, repo_id: str) -> dict:
        return self.repos.setdefault((repo_type, repo_id), {"files": {}, "commits": [], "tags": {}, "lfs_paths": set()})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_handler(state: HubState, base_url_holder: list):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        # --------------------------------------------------------------- helpers
        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                return self.rfile.read(n)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return b""

        def _send(self, status: int, obj=None, headers=None):
            data = b"" if obj is None else json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            with state.lock:
                state.requests.append((self.command, self.path, status))

        def _error(self, status: int, message: str):
            self._send(status, {"error": message}, {"X-Error-Message": message})

        def _token(self):
            auth = self.headers.get("Authorization", "")
            return auth[7:] if auth.startswith("Bearer ") else None

        def _authorized(self) -> bool:
            if self._token() in state.valid_tokens:
                return True
            self._error(401, "Invalid credentials in Authorization header")
            return False

        def _inject(self, kind: str) -> bool:
            with state.lock:
                status = state.fail_once.pop(kind, None) or state.fail_always.get(kind)
                if status:
                    state.failed.append(kind)
            if status:
                self._error(status, f"injected failure on {kind}")
                return True
            return False

        # --------------------------------------------------------------- routes
        def do_GET(self):
            path = urlparse(self.path).path
            if path == "/api/whoami-v2":
                if not self._authorized():
                    return
                return self._send(200, {"type": "user", "name": "tester", "orgs": [{"name": "org"}],
                                        "auth": {"accessToken": {"role": "write"}}})
            m = re.fullmatch(r"/api/(models|datasets)/(.+)/refs", path)
            if m:
                repo_type, repo_id = m.group(1)[:-1], unquote(m.group(2))
                if not self._authorized():
                    return
                if (repo_type, repo_id) not in state.repos:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                repo = state.repo(repo_type, repo_id)
                head = repo["commits"][-1]["oid"] if repo["commits"] else "0" * 40
                return self._send(200, {
                    "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": head}], "converts": [],
                    "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": v["target"]}
                             for t, v in repo["tags"].items()]})
            m = re.fullmatch(r"/api/(models|datasets)/(.+?)(?:/revision/(.+))?", path)
            if m:
                repo_type, repo_id = m.group(1)[:-1], unquote(m.group(2))
                if (repo_type, repo_id) not in state.repos:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                repo = state.repo(repo_type, repo_id)
                sha = repo["commits"][-1]["oid"] if repo["commits"] else "0" * 40
                return self._send(200, {"id": repo_id, "sha": sha,
                                        "siblings": [{"rfilename": p} for p in sorted(repo["files"])]})
            self._error(404, f"no route GET {path}")

        def do_PUT(self):
            path = urlparse(self.path).path
            m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)
            body = self._body()
            if not m:
                return self._error(404, f"no route PUT {path}")
            if self._inject("lfs_put"):
                return
            oid = m.group(1)
            if _sha(body) != oid:
                return self._error(400, "sha256 mismatch")
            with state.lock:
                state.lfs[oid] = body
            self._send(200)

        def do_POST(self):
            path = urlparse(self.path).path
            body = self._body()
            with state.lock:
                state.raw_bodies.append(body)
            if path == "/api/repos/create":
                if not self._authorized():
                    return
                payload = json.loads(body)
                repo_type = payload.get("type") or "model"
                repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
                if repo_id in {r for t, r in state.repos if t == repo_type}:
                    return self._send(409, {"error": "You already created this repo", "url": f"{base_url_holder[0]}/{repo_id}"})
                state.repo(repo_type, repo_id)
                return self._send(200, {"url": f"{base_url_holder[0]}/{repo_id}"})
            if path == "/api/validate-yaml":
                return self._send(200, {"errors": [], "warnings": []})
            m = re.fullmatch(r"/(?:(datasets)/)?(.+?)\.git/info/lfs/objects/batch", path)
            if m:
                return self._lfs_batch("dataset" if m.group(1) else "model", unquote(m.group(2)), json.loads(body))
            m = re.fullmatch(r"/lfs-verify/([0-9a-f]{64})", path)
            if m:
                ok = m.group(1) in state.lfs
                return self._send(200 if ok else 404, {"ok": ok})
            m = re.fullmatch(r"/api/(models|datasets)/(.+)/(preupload|commit|tag)/([^/]+)", path)
            if m:
                repo_type, repo_id, action, revision = m.group(1)[:-1], unquote(m.group(2)), m.group(3), unquote(m.group(4))
                if not self._authorized():
                    return
                if (repo_type, repo_id) not in state.repos:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if action != "preupload" and repo_id in state.write_denied_repos:
                    return self._error(403, "You don't have the rights to write to this repo")
                return getattr(self, f"_{action}")(repo_type, repo_id, revision, body)
            self._error(404, f"no route POST {path}")

        def _lfs_batch(self, repo_type, repo_id, payload):
            if not self._authorized():
                return
            objects = []
            for obj in payload["objects"]:
                oid, size = obj["oid"], obj["size"]
                if oid in state.lfs:
                    objects.append({"oid": oid, "size": size})  # already stored: no actions
                else:
                    base = base_url_holder[0]
                    objects.append({"oid": oid, "size": size, "authenticated": True, "actions": {
                        "upload": {"href": f"{base}/lfs-upload/{oid}"},
                        "verify": {"href": f"{base}/lfs-verify/{oid}"}}})
            self._send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

        def _preupload(self, repo_type, repo_id, revision, body):
            payload = json.loads(body)
            repo = state.repo(repo_type, repo_id)
            files = []
            for f in payload["files"]:
                # like the Hub: binary or large files go through LFS, small text files in the commit payload
                sample = base64.b64decode(f["sample"])
                lfs = f["size"] > 1024 or b"\x00" in sample or f["path"].endswith((".parquet", ".onnx", ".safetensors"))
                existing = repo["files"].get(f["path"])
                files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                              "oid": None if existing is None else _git_blob_oid(existing) if not lfs else _sha(existing)})
            self._send(200, {"files": files, "commitOid": repo["commits"][-1]["oid"] if repo["commits"] else None})

        def _commit(self, repo_type, repo_id, revision, body):
            if self._inject("commit"):
                return
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            repo = state.repo(repo_type, repo_id)
            new_files = dict(repo["files"])
            for item in lines:
                value = item["value"]
                if item["key"] == "file":
                    assert value.get("encoding") == "base64", value
                    new_files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "lfsFile":
                    if value["oid"] not in state.lfs:
                        return self._error(422, f"LFS object {value['oid']} was never uploaded")
                    new_files[value["path"]] = state.lfs[value["oid"]]
                    repo["lfs_paths"].add(value["path"])
                elif item["key"] == "deletedFile":
                    new_files.pop(value["path"], None)
            oid = uuid.uuid4().hex + "00000000"
            repo["files"] = new_files
            repo["commits"].append({"oid": oid, "summary": header["summary"], "paths":
                                    sorted(x["value"]["path"] for x in lines if x["key"] in ("file", "lfsFile"))})
            with state.lock:
                state.commits_done += 1
                if state.revoke_after_commits is not None and state.commits_done >= state.revoke_after_commits:
                    state.valid_tokens.clear()
            kind = "datasets/" if repo_type == "dataset" else ""
            self._send(200, {"commitUrl": f"{base_url_holder[0]}/{kind}{repo_id}/commit/{oid}", "commitOid": oid,
                             "pullRequestUrl": None})

        def _tag(self, repo_type, repo_id, revision, body):
            payload = json.loads(body)
            repo = state.repo(repo_type, repo_id)
            if payload["tag"] in repo["tags"]:
                return self._send(409, {"error": "Tag already exists"})
            target = repo["commits"][-1]["oid"] if revision == "main" and repo["commits"] else revision
            repo["tags"][payload["tag"]] = {"target": target, "message": payload.get("message")}
            self._send(200, {"name": payload["tag"]})

    return Handler


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class LocalHub:
    """A threaded HTTP server on 127.0.0.1 serving the Hub API subset; `with LocalHub() as hub: hub.url`."""

    def __init__(self, **state_kwargs):
        self.state = HubState(**state_kwargs)
        self._holder = [""]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state, self._holder))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._holder[0] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def files(self, repo_type: str, repo_id: str) -> dict[str, bytes]:
        return dict(self.state.repos.get((repo_type, repo_id), {}).get("files", {}))


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` as relative posix path -> bytes."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


_BUILT: dict[str, Path] = {}


def built_fixture(tiny_model: Path) -> dict[str, Path]:
    """The model and dataset folders, made once per test process from the session's tiny model in a temporary
    folder removed at exit. Tests that change files copy them first (`copy_tree`)."""
    if not _BUILT:
        import atexit
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="bilingual-hub-fixture-"))
        atexit.register(shutil.rmtree, root, True)
        _BUILT["model"] = build_model_dir(root / "run" / "model", tiny_model)
        _BUILT["dataset"] = build_dataset_dir(root / "run" / "dataset")
        _BUILT["root"] = root
    return dict(_BUILT)
