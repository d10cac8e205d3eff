"""The translation service against a real server: `python -m bilingual serve` in a subprocess on
127.0.0.1 with the tiny model trained by _ux_helpers, plus an in-process uvicorn server with batching off."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from _ux_helpers import REPO, tiny_model  # noqa: F401 - fixture

MAX_TEXTS, MAX_CHARS, MAX_BEAMS = 8, 200, 4
MAX_NEW = 24  # short outputs keep the tiny model quick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc=None, timeout: float = 180.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    cmd = [sys.executable, "-m", "bilingual", "serve", "--model", str(tiny_model), "--port", str(port),
           "--batch-wait-ms", "100", "--max-batch", "32", "--max-texts", str(MAX_TEXTS),
           "--max-chars", str(MAX_CHARS), "--max-beams", str(MAX_BEAMS), "--max-new-tokens", str(MAX_NEW)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except Exception:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
    yield {"url": url, "proc": proc, "log": log_path}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def onnx_translator(tiny_model):
    from bilingual.inference.translator import Translator

    return Translator(tiny_model, backend="onnx")


EN = ["I love you.", "Tom is a good boy.", "Where is the station?", "Go.", "I don't know what to do."]
BN = ["আমি তোমাকে ভালোবাসি।", "টম কোথায়?", "আমি বাড়ি যাচ্ছি।"]


def test_health_reports_loaded_onnx_model_and_versions(server, tiny_model):
    body = httpx.get(f"{server['url']}/health").json()
    assert body["status"] == "ok" and body["model_loaded"] is True
    assert body["backend"] == "onnx"
    assert body["model_dir"] == str(tiny_model)
    assert {"bilingual", "transformers", "onnxruntime"} <= set(body["versions"])
    assert body["batching"]["enabled"] is True and body["language_id"] is True


def test_translations_match_the_library(server, onnx_translator):
    url = server["url"]
    r = httpx.post(f"{url}/translate", json={"text": EN[0], "src": "en", "tgt": "bn"}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["translation"] == onnx_translator.translate([EN[0]], "en", "bn", max_new_tokens=MAX_NEW)[0]
    assert body["translations"] == [body["translation"]] and body["backend"] == "onnx"
    assert body["translation"].strip() and body["translation"] != EN[0]

    r = httpx.post(f"{url}/translate", json={"text": EN, "src": "en", "tgt": "bn"}, timeout=60)
    assert r.json()["translations"] == onnx_translator.translate(EN, "en", "bn", max_new_tokens=MAX_NEW)
    assert "translation" not in r.json()

    r = httpx.post(f"{url}/translate", json={"text": BN, "src": "bn", "beams": 3}, timeout=60)
    assert r.status_code == 200 and r.json()["tgt"] == "en"
    assert r.json()["translations"] == onnx_translator.translate(BN, "bn", "en", num_beams=3, max_new_tokens=MAX_NEW)


def test_detect_language(server):
    r = httpx.post(f"{server['url']}/detect-language", json={"text": ["আমি তোমাকে ভালোবাসি।",
                                                                        "Where is the railway station?"]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["lang"] for x in results] == ["bn", "en"]
    assert all(0.5 < x["probability"] <= 1.0 for x in results)
    single = httpx.post(f"{server['url']}/detect-language", json={"text": "আমি বাড়ি যাচ্ছি।"}).json()
    assert single["lang"] == "bn"


BAD_REQUESTS = [
    ("empty text", "/translate", {"text": "", "src": "en"}, 422),
    ("blank text", "/translate", {"text": "   ", "src": "en"}, 422),
    ("empty list", "/translate", {"text": [], "src": "en"}, 422),
    ("blank item", "/translate", {"text": ["fine", " "], "src": "en"}, 422),
    ("too many texts", "/translate", {"text": ["hello"] * (MAX_TEXTS + 1), "src": "en"}, 413),
    ("text too long", "/translate", {"text": "a" * (MAX_CHARS + 1), "src": "en"}, 413),
    ("unknown source", "/translate", {"text": "hello", "src": "fr"}, 422),
    ("unknown target", "/translate", {"text": "hello", "src": "en", "tgt": "xx"}, 422),
    ("same languages", "/translate", {"text": "hello", "src": "en", "tgt": "en"}, 422),
    ("beams zero", "/translate", {"text": "hello", "src": "en", "beams": 0}, 422),
    ("beams too big", "/translate", {"text": "hello", "src": "en", "beams": MAX_BEAMS + 1}, 422),
    ("wrong type", "/translate", {"text": 42, "src": "en"}, 422),
    ("missing src", "/translate", {"text": "hello"}, 422),
    ("extra field", "/translate", {"text": "hello", "src": "en", "temperature": 2}, 422),
    ("detect empty", "/detect-language", {"text": ""}, 422),
    ("detect too many", "/detect-language", {"text": ["x"] * (MAX_TEXTS + 1)}, 413),
]


@pytest.mark.parametrize("what,path,payload,code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_inputs_get_their_codes_and_the_server_stays_up(server, what, path, payload, code):
    r = httpx.post(server["url"] + path, json=payload, timeout=30)
    assert r.status_code == code, r.text
    assert "detail" in r.json()
    assert server["proc"].poll() is None
    assert httpx.get(f"{server['url']}/health").status_code == 200


def test_malformed_bodies_never_take_the_server_down(server):
    url = server["url"]
    headers = {"content-type": "application/json"}
    assert httpx.post(f"{url}/translate", content=b'{"text": "hi", "src":', headers=headers).status_code == 422
    assert httpx.post(f"{url}/translate", content=b"\xff\xfe\x00garbage", headers=headers).status_code in (400, 422)
    assert httpx.post(f"{url}/translate", content=b"[1, 2]", headers=headers).status_code == 422
    huge = b'{"text": "' + b"a" * (MAX_TEXTS * MAX_CHARS * 6 + 70 * 1024) + b'", "src": "en"}'
    assert httpx.post(f"{url}/translate", content=huge, headers=headers).status_code == 413
    assert httpx.get(f"{url}/translate").status_code == 405
    assert httpx.get(f"{url}/nope").status_code == 404
    assert server["proc"].poll() is None
    r = httpx.post(f"{url}/translate", json={"text": "Go.", "src": "en"}, timeout=60)
    assert r.status_code == 200 and r.json()["translation"]


def test_openapi_schema_is_published(server):
    spec = httpx.get(f"{server['url']}/openapi.json").json()
    assert {"/translate", "/detect-language", "/health", "/metrics"} <= set(spec["paths"])
    assert "413" in spec["paths"]["/translate"]["post"]["responses"]


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + labels + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    values = [float(m.group(1)) for m in re.finditer(pattern, text, re.M)]
    assert values, f"{name}{{{labels}}} not in /metrics"
    return sum(values)


def test_concurrent_requests_share_model_calls(server, onnx_translator):
    url = server["url"]
    before = httpx.get(f"{url}/metrics").text
    texts = EN + ["Thank you.", "It is raining.", "Come here."]

    def call(text):
        return httpx.post(f"{url}/translate", json={"text": text, "src": "en", "tgt": "bn"}, timeout=120)

    with ThreadPoolExecutor(len(texts)) as pool:
        responses = list(pool.map(call, texts))
    assert [r.status_code for r in responses] == [200] * len(texts)
    expected = onnx_translator.translate(texts, "en", "bn", max_new_tokens=MAX_NEW)
    assert [r.json()["translation"] for r in responses] == expected

    after = httpx.get(f"{url}/metrics").text
    calls = _metric(after, "bilingual_batch_requests_count") - _metric(before, "bilingual_batch_requests_count")
    single = (_metric(after, "bilingual_batch_requests_bucket", 'le="1.0"')
              - _metric(before, "bilingual_batch_requests_bucket", 'le="1.0"'))
    assert calls < len(texts), "every request got its own model call"
    assert calls - single >= 1, "no model call served more than one request"


def test_metrics_count_requests_latency_and_tokens(server):
    url = server["url"]
    httpx.post(f"{url}/translate", json={"text": "", "src": "en"})
    httpx.post(f"{url}/translate", json={"text": "Go.", "src": "en"}, timeout=60)
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _metric(text, "bilingual_requests_total", 'endpoint="/translate",method="POST",status="422"') >= 1
    assert _metric(text, "bilingual_requests_total", 'endpoint="/translate",method="POST",status="200"') >= 1
    assert _metric(text, "bilingual_request_latency_seconds_count", 'endpoint="/translate"') >= 2
    assert _metric(text, "bilingual_tokens_translated_total", 'kind="source"') > 0
    assert _metric(text, "bilingual_tokens_translated_total", 'kind="target"') > 0
    assert "status=\"500\"" not in text


def test_no_batching_server_in_process_and_pytorch_fallback(tiny_model, tmp_path, caplog):
    """Without an onnx/ folder the service falls back to PyTorch (and says so); --no-batching gives one
    model call per request and the same translations as the library."""
    import uvicorn

    from bilingual.inference.translator import Translator
    from bilingual.service import ServiceConfig, create_app, load_translator

    plain = tmp_path / "model"
    shutil.copytree(tiny_model, plain, ignore=shutil.ignore_patterns("onnx*", "ctranslate2"))
    with caplog.at_level("WARNING", logger="bilingual.service"):
        translator = load_translator(plain)
    assert translator.backend == "pytorch"
    assert any("no ONNX export" in r.getMessage() for r in caplog.records)

    app = create_app(translator, ServiceConfig(batching=False, max_new_tokens=MAX_NEW))
    with in_process_server(app) as url:
        assert httpx.get(f"{url}/health").json()["batching"]["enabled"] is False
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda t: httpx.post(f"{url}/translate", json={"text": t, "src": "en"},
                                                           timeout=120), EN[:4]))
        assert [r.status_code for r in responses] == [200] * 4
        assert [r.json()["translation"] for r in responses] == Translator(plain).translate(EN[:4], "en", "bn",
                                                                                          max_new_tokens=MAX_NEW)
        text = httpx.get(f"{url}/metrics").text
        assert _metric(text, "bilingual_batch_requests_count") == 4
        assert _metric(text, "bilingual_batch_requests_bucket", 'le="1.0"') == 4


@contextlib.contextmanager
def in_process_server(app):
    """uvicorn serving `app` on a free 127.0.0.1 port in a thread; yields the base URL, stops it after."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, timeout=60)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_ctranslate2_backend_serves_what_the_library_translates(tiny_model, tmp_path):
    """`--backend ctranslate2` serves the converted model (batched) and says so in /health; a model without
    the conversion is refused with the command that makes it."""
    from bilingual.inference.ctranslate2 import convert_ctranslate2
    from bilingual.inference.translator import MissingArtifactError, Translator
    from bilingual.service import ServiceConfig, create_app, load_translator

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx*", "ctranslate2"))
    with pytest.raises(MissingArtifactError, match="export --ctranslate2"):
        load_translator(model, "ctranslate2")
    # parity is test_export_ctranslate2's subject; here only the serving path is checked
    convert_ctranslate2(model, quantization=None, sample_texts=EN + BN, n_sample=len(EN + BN), min_identical=0.0)
    translator = load_translator(model, "ctranslate2", threads=1)
    with in_process_server(create_app(translator, ServiceConfig(max_new_tokens=MAX_NEW))) as url:
        assert httpx.get(f"{url}/health").json()["backend"] == "ctranslate2"
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda t: httpx.post(f"{url}/translate", json={"text": t, "src": "en"},
                                                           timeout=120), EN))
        assert [r.status_code for r in responses] == [200] * len(EN)
        expected = Translator(model, "ctranslate2").translate(EN, "en", "bn", max_new_tokens=MAX_NEW)
        assert [r.json()["translation"] for r in responses] == expected and any(expected)


def test_text_over_the_models_input_length_is_413(server, tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = "%" * (MAX_CHARS - 1)  # under the character limit, over the tiny model's 128 positions
    assert len(tok(">>bn<< " + text)["input_ids"]) > 128
    r = httpx.post(f"{server['url']}/translate", json={"text": ["Go.", text], "src": "en"}, timeout=60)
    assert r.status_code == 413 and "tokens" in r.json()["detail"]
    assert httpx.get(f"{server['url']}/health").json()["limits"]["max_tokens"] == 128
    assert server["proc"].poll() is None


def test_a_failing_model_call_fails_only_its_own_request():
    """Batcher with a plain function as the model: when one request in a shared call breaks the call,
    the others still get their results (retried one by one)."""
    import asyncio

    from bilingual.service.batching import Batcher

    calls = []

    def model(texts, src, tgt, beams):
        calls.append(list(texts))
        if "boom" in texts:
            raise RuntimeError("model failed")
        return [t.upper() for t in texts]

    async def scenario():
        batcher = Batcher(model, max_batch=32, wait_ms=200)
        await batcher.start()
        try:
            return await asyncio.gather(batcher.submit(["a", "b"], "en", "bn", 1), batcher.submit(["boom"], "en", "bn", 1),
                                        batcher.submit(["c"], "en", "bn", 1), batcher.submit(["d"], "bn", "en", 1),
                                        return_exceptions=True)
        finally:
            await batcher.stop()

    ab, boom, c, d = asyncio.run(scenario())
    assert ab == ["A", "B"] and c == ["C"] and d == ["D"]
    assert isinstance(boom, RuntimeError)
    assert ["a", "b", "boom", "c"] in calls and ["d"] in calls  # shared call first, grouped by (src, tgt, beams)
