"""`bilingual serve`: the HTTP translation service (FastAPI + uvicorn) for one model folder.

The model is loaded before the port is bound, so a bad --model fails at once with one line.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Optional

from bilingual.inference.backends import names as backend_names

API_KEY_ENV = "BILINGUAL_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bilingual serve",
        description="Serve a translation model over HTTP: POST /translate, POST /detect-language, GET /health, "
                    "GET /metrics (Prometheus), OpenAPI at /openapi.json and docs at /docs.",
        epilog="example:\n  bilingual serve --model out/model --port 8000\n"
               "  curl -s localhost:8000/translate -H 'content-type: application/json' \\\n"
               "       -d '{\"text\": \"How are you?\", \"src\": \"en\", \"tgt\": \"bn\"}'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model folder (save_pretrained output; ONNX export in <model>/onnx)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--backend", choices=backend_names(), default=None,
                   help="inference backend (default: the fastest artifact present whose parity gate passed, "
                        "ctranslate2 > onnx-int8 > onnx, else pytorch); the artifacts come from `bilingual export`")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads for the model (default: the runtime's own choice, all cores)")
    p.add_argument("--max-batch", type=int, default=32, help="most texts in one model call (default: 32)")
    p.add_argument("--batch-wait-ms", type=float, default=10.0,
                   help="how long a request waits for others to share its model call (default: 10)")
    p.add_argument("--no-batching", action="store_true", help="one model call per request")
    p.add_argument("--max-chars", type=int, default=1000, help="longest text accepted, in characters (413 above)")
    p.add_argument("--max-texts", type=int, default=64, help="most texts in one request (413 above)")
    p.add_argument("--max-beams", type=int, default=8, help="largest beam size accepted (422 above)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="longest translation in tokens")
    p.add_argument("--max-request-cost", type=int, default=32768,
                   help="most work in one request, in source tokens × beams (413 above; default: 32768)")
    p.add_argument("--max-call-cost", type=int, default=512,
                   help="most work in one model call, in source tokens × beams: heavy requests are split into "
                        "calls this size, interleaved with other requests (default: 512; 0 = whole requests)")
    p.add_argument("--health-stall-s", type=float, default=30.0,
                   help="/health answers 503 degraded when no model call finishes for this long while work "
                        "waits (default: 30)")
    p.add_argument("--api-key-env", default=API_KEY_ENV,
                   help=f"environment variable holding the API key (default: {API_KEY_ENV}); when set, every "
                        "endpoint but /health needs 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only; no third-party warnings")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("max_batch", "max_chars", "max_texts", "max_beams", "max_new_tokens", "max_request_cost"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_call_cost < 0 or args.health_stall_s <= 0:
        raise ValueError("--max-call-cost must not be negative and --health-stall-s must be positive")
    if args.batch_wait_ms < 0:
        raise ValueError("--batch-wait-ms must not be negative")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a TCP port")
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bilingual").setLevel(level)
    if args.quiet:
        from bilingual.console import set_quiet

        set_quiet(True)

    import uvicorn

    from bilingual.service import ServiceConfig, create_app, load_translator
    from bilingual.service.app import bind_warning

    if args.threads is not None and args.threads < 1:
        raise ValueError("--threads must be at least 1")
    translator = load_translator(args.model, args.backend, threads=args.threads)
    config = ServiceConfig(max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                           batching=not args.no_batching, max_chars=args.max_chars, max_texts=args.max_texts,
                           max_beams=args.max_beams, max_new_tokens=args.max_new_tokens,
                           max_request_cost=args.max_request_cost, max_call_cost=args.max_call_cost or None,
                           stall_s=args.health_stall_s, api_key=os.environ.get(args.api_key_env) or None)
    app = create_app(translator, config, model_dir=args.model)
    log = logging.getLogger("bilingual.service")
    warning = bind_warning(args.host, config.api_key)
    if warning:
        log.warning(warning)
    log.info("listening on http://%s:%d (backend %s, API key %s)", args.host, args.port, translator.backend,
             f"from ${args.api_key_env}" if config.api_key else "off")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                access_log=args.access_log, timeout_graceful_shutdown=5)
    return 0
