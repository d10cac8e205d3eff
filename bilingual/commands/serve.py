"""`bilingual serve`: the HTTP translation service (FastAPI + uvicorn) for one model folder.

The model is loaded before the port is bound, so a bad --model fails at once with one line.
"""

from __future__ import annotations

import argparse
import logging
from typing import Optional

from bilingual.inference.translator import BACKENDS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="inference backend: onnx-int8 and ctranslate2 need `bilingual export --quantize` / "
                        "`--ctranslate2` first (default: onnx when <model>/onnx exists, else pytorch)")
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
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("max_batch", "max_chars", "max_texts", "max_beams", "max_new_tokens"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch_wait_ms < 0:
        raise ValueError("--batch-wait-ms must not be negative")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a TCP port")
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bilingual").setLevel(level)

    import uvicorn

    from bilingual.service import ServiceConfig, create_app, load_translator

    if args.threads is not None and args.threads < 1:
        raise ValueError("--threads must be at least 1")
    translator = load_translator(args.model, args.backend, threads=args.threads)
    config = ServiceConfig(max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                           batching=not args.no_batching, max_chars=args.max_chars, max_texts=args.max_texts,
                           max_beams=args.max_beams, max_new_tokens=args.max_new_tokens)
    app = create_app(translator, config, model_dir=args.model)
    logging.getLogger("bilingual.service").info("listening on http://%s:%d (backend %s)", args.host, args.port,
                                                translator.backend)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                access_log=args.access_log, timeout_graceful_shutdown=5)
    return 0
