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


@contextlib.contextmanager
def serving(model, log_path, flags: list[str], env=None):
    """`bilingual serve` in a subprocess on a free local port, healthy before the tests use it, stopped after."""
    port = free_port()
    cmd = [sys.executable, "-m", "bilingual", "serve", "--model", str(model), "--port", str(port), *flags]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except Exception:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
    try:
        yield {"url": url, "proc": proc, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    flags = ["--backend", "onnx", "--batch-wait-ms", "100", "--max-batch", "32", "--max-texts", str(MAX_TEXTS),
             "--max-chars", str(MAX_CHARS), "--max-beams", str(MAX_BEAMS), "--max-new-tokens", str(MAX_NEW)]
    with serving(tiny_model, tmp_path_factory.mktemp("serve") / "server.log", flags) as running:
        yield running


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
    """Without an exported artifact the service serves PyTorch (and says why); --no-batching gives one
    model call per request and the same translations as the library."""
    import uvicorn

    from bilingual.inference.translator import Translator
    from bilingual.service import ServiceConfig, create_app, load_translator

    plain = tmp_path / "model"
    shutil.copytree(tiny_model, plain, ignore=shutil.ignore_patterns("onnx*", "ctranslate2"))
    with caplog.at_level("WARNING", logger="bilingual.service"):
        translator = load_translator(plain)
    assert translator.backend == "pytorch"
    assert any("no exported artifact" in r.getMessage() for r in caplog.records)

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


# ------------------------------------------------------------------------------------ hardening (issue 15)
def test_lone_surrogate_is_422_and_the_keep_alive_connection_survives(server):
    """JSON may escape a lone surrogate; it is not valid Unicode: 422 naming the text, on the same connection
    that then serves a good request (before: 500 and a dropped connection)."""
    import http.client

    host, port = server["url"].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        for path, body in (("/translate", b'{"text": "a\\ud800b", "src": "en"}'),
                           ("/translate", b'{"text": "ok", "src": "\\udfff"}'),
                           ("/detect-language", b'{"text": ["fine", "x\\udc00"]}')):
            conn.request("POST", path, body=body, headers={"content-type": "application/json"})
            r = conn.getresponse()
            payload = r.read()
            assert r.status == 422, payload
            assert r.getheader("connection") != "close"
            import json

            json.loads(payload)  # a well-formed reply, the surrogate escaped
        assert b"surrogate" in payload or b"Unicode" in payload
        conn.request("POST", "/translate", body=b'{"text": "Go.", "src": "en"}',
                     headers={"content-type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200 and b"translation" in r.read()
    finally:
        conn.close()


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def test_chunked_body_over_the_limit_is_refused_while_reading(server):
    """A 200 MB chunked body (no Content-Length) is answered 413 once the limit is passed, without the server
    reading the rest or holding it in memory."""
    import select

    host, port = server["url"].removeprefix("http://").split(":")
    rss_before = _rss_kb(server["proc"].pid)
    chunk = b"a" * (1 << 20)
    sent, reply = 0, b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 200 * (1 << 20):
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(30)
        with contextlib.suppress(ConnectionResetError):
            while b"\r\n\r\n" not in reply:
                data = sock.recv(65536)
                if not data:
                    break
                reply += data
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 50 * (1 << 20), f"the client could send {sent >> 20} MB before the refusal"
    assert _rss_kb(server["proc"].pid) - rss_before < 100_000
    assert httpx.get(f"{server['url']}/health").status_code == 200


FAIR_KEY = "test-key-123"
HEAVY_TEXTS, HEAVY_BEAMS = 48, 4


@pytest.fixture(scope="module")
def fair_server(tiny_model, tmp_path_factory):
    """A second server: an API key from the environment, small model calls (heavy requests split), and a
    stall threshold so small that /health is degraded whenever a model call is in flight."""
    import os

    flags = ["--backend", "onnx", "--threads", "1", "--max-texts", "64", "--max-chars", str(MAX_CHARS),
             "--max-new-tokens", str(MAX_NEW), "--max-call-cost", "200", "--max-request-cost", "20000",
             "--health-stall-s", "0.001"]
    env = {**os.environ, "BILINGUAL_API_KEY": FAIR_KEY}
    with serving(tiny_model, tmp_path_factory.mktemp("serve-fair") / "server.log", flags, env=env) as running:
        yield {**running, "auth": {"Authorization": f"Bearer {FAIR_KEY}"}}


def test_api_key_is_required_when_set(fair_server):
    url = fair_server["url"]
    assert httpx.post(f"{url}/translate", json={"text": "Go.", "src": "en"}).status_code == 401
    assert httpx.post(f"{url}/translate", json={"text": "Go.", "src": "en"},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.post(f"{url}/translate", json={"text": "Go.", "src": "en"}, headers=fair_server["auth"],
                      timeout=60).status_code == 200
    assert httpx.post(f"{url}/translate", json={"text": "Go.", "src": "en"}, headers={"X-API-Key": FAIR_KEY},
                      timeout=60).status_code == 200
    health = httpx.get(f"{url}/health")  # open, for load balancers
    assert health.status_code == 200 and health.json()["auth"] is True
    log = fair_server["log"].read_text(errors="replace")
    assert "API key from $BILINGUAL_API_KEY" in log and "beyond this machine" not in log


def test_bind_warning_beyond_loopback_without_a_key():
    from bilingual.service.app import bind_warning

    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert bind_warning(host, None) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.4", "example.org"):
        assert "BILINGUAL_API_KEY" in bind_warning(host, None), host
        assert bind_warning(host, "secret") is None


def test_request_cost_cap_is_413(fair_server):
    text = "I don't know what to do, but I will try to do it well. " * 3
    r = httpx.post(f"{fair_server['url']}/translate", headers=fair_server["auth"], timeout=60,
                   json={"text": [text[:MAX_CHARS]] * 64, "src": "en", "beams": 8})
    assert r.status_code == 413 and "cost" in r.json()["detail"] and "beams" in r.json()["detail"]


def _heavy_payload():
    long_en = ("Tom is a good boy and he goes to school every day with his sister. " * 3)[:MAX_CHARS - 10]
    return {"text": [f"{i} {long_en}" for i in range(HEAVY_TEXTS)], "src": "en", "tgt": "bn", "beams": HEAVY_BEAMS}


def _wait_for_call_in_flight(url, auth, heavy_thread):
    while heavy_thread.is_alive():
        body = httpx.get(f"{url}/health", timeout=30).json()
        if body["queue"]["call_in_flight_s"] > 0 or body["queue"]["queued_requests"]:
            return body
        time.sleep(0.005)
    raise AssertionError("the heavy request finished before it was seen in the queue")


def test_light_requests_overtake_a_heavy_one_and_health_reports_the_stall(fair_server):
    """A heavy request (48 long texts, beams 4) is split into small model calls; light requests sent while it
    runs finish before it does; /health says degraded (503) while calls run past the stall threshold and ok
    after."""
    url, auth = fair_server["url"], fair_server["auth"]
    before = httpx.get(f"{url}/metrics", headers=auth).text
    finished: list[str] = []
    heavy_result = {}

    def heavy():
        heavy_result["r"] = httpx.post(f"{url}/translate", json=_heavy_payload(), headers=auth, timeout=300)
        finished.append("heavy")

    thread = threading.Thread(target=heavy)
    thread.start()
    seen = _wait_for_call_in_flight(url, auth, thread)
    degraded = seen["status"] == "degraded"
    light = []
    for text in ("Go.", "Thank you."):
        r = httpx.post(f"{url}/translate", json={"text": text, "src": "en"}, headers=auth, timeout=300)
        light.append(r.status_code)
        finished.append("light")
        h = httpx.get(f"{url}/health", timeout=30)
        degraded = degraded or (h.status_code == 503 and h.json()["status"] == "degraded")
    thread.join()
    assert light == [200, 200] and heavy_result["r"].status_code == 200
    assert len(heavy_result["r"].json()["translations"]) == HEAVY_TEXTS
    assert finished.index("heavy") == 2, finished  # both light requests finished first
    assert degraded, "health never reported the stall"
    after = httpx.get(f"{url}/health", timeout=30)
    assert after.status_code == 200 and after.json()["status"] == "ok"
    calls = (_metric(httpx.get(f"{url}/metrics", headers=auth).text, "bilingual_batch_requests_count")
             - _metric(before, "bilingual_batch_requests_count"))
    assert calls > 4, "the heavy request was not split into micro-batches"


def test_requests_whose_client_left_are_not_translated(fair_server):
    url, auth = fair_server["url"], fair_server["auth"]
    before = httpx.get(f"{url}/metrics", headers=auth).text
    thread = threading.Thread(target=lambda: httpx.post(f"{url}/translate", json=_heavy_payload(), headers=auth,
                                                        timeout=300))
    thread.start()
    _wait_for_call_in_flight(url, auth, thread)
    host, port = url.removeprefix("http://").split(":")
    body = b'{"text": ["left one", "left two"], "src": "en"}'
    with socket.create_connection((host, int(port))) as sock:  # sends a request, then hangs up at once
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + FAIR_KEY.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body)
    thread.join()
    after = httpx.get(f"{url}/metrics", headers=auth).text
    assert _metric(after, "bilingual_requests_abandoned_total") - _metric(before, "bilingual_requests_abandoned_total") >= 1
    translated = _metric(after, "bilingual_texts_translated_total") - _metric(before, "bilingual_texts_translated_total")
    assert translated == HEAVY_TEXTS  # the two texts of the request that left never reached the model


def test_default_backend_is_the_fastest_artifact_whose_parity_passed(tiny_model, tmp_path):
    import json

    from bilingual.inference import backends
    from bilingual.inference.backends import onnx
    from bilingual.service import load_translator

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx*", "ctranslate2"))
    assert backends.default_for_serving(model)[0] == "pytorch"
    result = onnx.export(model, sample_texts=EN + BN, n_sample=len(EN + BN))
    assert result["passed"] and json.loads((model / "onnx" / "parity.json").read_text())["passed"] is True
    assert [e["backend"] for e in backends.present(model)] == ["onnx", "pytorch"]
    assert load_translator(model).backend == "onnx"
    # a gate recorded as failed (or an artifact without one) is never the default
    shutil.copytree(model / "onnx", model / "onnx-int8")
    (model / "onnx-int8" / "parity.json").write_text(json.dumps({"passed": False}))
    assert backends.present(model)[0] == {"backend": "onnx-int8", "dir": str(model / "onnx-int8"),
                                          "parity_passed": False}
    assert backends.default_for_serving(model)[0] == "onnx"
    (model / "onnx" / "parity.json").unlink()
    assert backends.default_for_serving(model)[0] == "pytorch"


def test_scheduler_puts_new_requests_before_the_rest_of_a_heavy_one_without_starving_it():
    """The scheduling bound, with a plain function as the model (call order only, no timing): a heavy request
    is split into calls of at most max_call_cost; a request arriving while it runs is in the next call; a
    partly served request waits at most MAX_SKIPS calls."""
    import asyncio

    from bilingual.service.batching import MAX_SKIPS, Batcher

    calls, first_call_running, release = [], threading.Event(), threading.Event()

    def model(texts, src, tgt, beams):
        calls.append((beams, list(texts)))
        if len(calls) == 1:
            first_call_running.set()
            release.wait(30)
        return list(texts)

    async def scenario():
        batcher = Batcher(model, max_batch=32, wait_ms=0, max_call_cost=300)
        await batcher.start()
        try:
            heavy = asyncio.ensure_future(batcher.submit([f"h{i}" for i in range(9)], "en", "bn", 4, [100] * 9))
            while not first_call_running.is_set():
                await asyncio.sleep(0.01)
            # arrive while the heavy request's first call runs; beams 1 (other key) and 2 (another one)
            lights = [asyncio.ensure_future(batcher.submit([f"l{i}"], "en", "bn", 1 + (i % 2), [10]))
                      for i in range(4)]
            await asyncio.sleep(0.05)
            release.set()
            return await heavy, await asyncio.gather(*lights)
        finally:
            await batcher.stop()

    heavy_out, light_out = asyncio.run(scenario())
    assert heavy_out == [f"h{i}" for i in range(9)] and light_out == [["l0"], ["l1"], ["l2"], ["l3"]]
    assert calls[0] == (4, ["h0", "h1", "h2"])  # 300 token-beams per call
    order = [texts[0][0] if texts[0].startswith("h") else texts[0] for _, texts in calls[1:]]
    # the next call serves a new request; the heavy one gets every (MAX_SKIPS + 1)th call at least
    assert order[0] != "h"
    gaps = [i for i, name in enumerate(order) if name == "h"]
    assert gaps and gaps[0] <= MAX_SKIPS
    assert all(b - a <= MAX_SKIPS + 1 for a, b in zip(gaps, gaps[1:]))
    assert order.count("h") == 2  # 9 texts at 3 per call: the first call, then two more
    assert all(len(texts) <= 3 for beams, texts in calls if beams == 4)
