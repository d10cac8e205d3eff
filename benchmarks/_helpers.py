"""What the benchmarks build for themselves, with the product's own code (bilingual.modeling), so that no
benchmark imports the test suite: Tatoeba pairs, the product tokenizer, a random-weight Marian of a given size
and a tiny trained Marian whose outputs end with EOS like a real model's; a multistream dump re-packed from a
bundled single-stream one; a static site on 127.0.0.1 that logs its requests."""

from __future__ import annotations

from pathlib import Path

from bilingual.layout import SAMPLES
from bilingual.modeling.tiny import TINY_MODEL_DONE, tatoeba_pairs, train_tiny_marian  # noqa: F401


def english_sentences() -> list[str]:
    """Every English side of the bundled Tatoeba TSV (request texts for the service benchmark)."""
    return [p["en"] for p in tatoeba_pairs(max_chars=10**6)]


def product_tokenizer(vocab_size: int, max_chars: int = 40):
    """The shared bn+en tokenizer (bilingual.modeling.tokenizer) trained on the Tatoeba pairs."""
    from bilingual.modeling.tokenizer import train_tokenizer

    pairs = tatoeba_pairs(max_chars=max_chars)
    return train_tokenizer([p["bn"] for p in pairs] + [p["en"] for p in pairs], vocab_size=vocab_size)


def random_marian(folder: Path, d_model: int, layers: int, heads: int, vocab: int) -> Path:
    """A product-config Marian (bilingual.modeling.model.marian_config) with RANDOM weights and its tokenizer:
    enough to time inference, where only the shapes matter."""
    from transformers import MarianMTModel

    from bilingual.modeling.model import Preset, marian_config

    tok = product_tokenizer(vocab, max_chars=1000)
    preset = Preset(d_model=d_model, encoder_layers=layers, decoder_layers=layers, heads=heads,
                    ffn_dim=4 * d_model, max_position_embeddings=512, dropout=0.0)
    model = MarianMTModel(marian_config(preset, tok)).eval()
    model.generation_config.bad_words_ids = [[tok.pad_token_id]]
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return Path(folder)


def tiny_trained_marian(out_dir, steps: int = 600, n_pairs: int = 200, seed: int = 0) -> Path:
    """The tiny trained Marian the tests use too (`bilingual.modeling.tiny`), with its ONNX export (onnx/);
    `TINY_MODEL_DONE` is written last so a killed build is redone."""
    return train_tiny_marian(out_dir, n_pairs=n_pairs, steps=steps, seed=seed)


# ------------------------------------------------------------------ Wikipedia dumps

def make_multistream(dump_bz2: Path, out_dir: Path, pages_per_stream: int = 100) -> tuple[Path, Path]:
    """Re-pack a single-stream dump as Wikimedia's multistream layout (header stream, one bz2 stream per
    group of pages, footer stream) plus its `offset:page_id:title` index; returns (dump, index)."""
    import bz2
    import re

    xml = bz2.decompress(Path(dump_bz2).read_bytes())
    cut = xml.index(b"</siteinfo>") + len(b"</siteinfo>")
    header, rest = xml[:cut] + b"\n", xml[cut:]
    pages = re.findall(rb"\s*<page>.*?</page>", rest, flags=re.S)
    footer = rest[rest.rfind(b"</page>") + len(b"</page>"):]
    name = Path(dump_bz2).name.split("-")[0]
    dump = out_dir / f"{name}-pages-articles-multistream.xml.bz2"
    index = out_dir / f"{name}-pages-articles-multistream-index.txt.bz2"
    lines = []
    with open(dump, "wb") as f:
        f.write(bz2.compress(header))
        for i in range(0, len(pages), pages_per_stream):
            offset, group = f.tell(), pages[i:i + pages_per_stream]
            for page in group:
                pid = int(re.search(rb"<id>(\d+)</id>", page).group(1))
                lines.append(f"{offset}:{pid}:{re.search(rb'<title>(.*?)</title>', page).group(1).decode()}")
            f.write(bz2.compress(b"".join(group)))
        f.write(bz2.compress(footer))
    index.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return dump, index


# ------------------------------------------------------------------ a web site

BN_PAGE = SAMPLES / "html" / "bn_ukbdnews.com.23646.html"
EN_PAGE = SAMPLES / "html" / "en_bbc.com.52241221.html"


class StaticSite:
    """Pages ({path: (bytes, content type)}) served on 127.0.0.1 by a threaded server; GET /__log answers
    the request log [(monotonic time, host, path), ...] as JSON. Use as a context manager."""

    def __init__(self, pages: dict[str, tuple[bytes, str]]):
        import json
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        log: list = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/__log":
                    body, ctype, status = json.dumps(log).encode(), "application/json", 200
                else:
                    log.append((time.monotonic(), (self.headers.get("Host") or "").split(":")[0], self.path))
                    body, ctype = pages.get(self.path, (b"not found", "text/plain"))
                    status = 200 if self.path in pages else 404
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
