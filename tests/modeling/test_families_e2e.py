"""Every model family end to end, each from a tiny random checkpoint built here with its real tokenizer type
(sentencepiece models trained in the test): fine-tune a few steps → evaluate → ONNX export with parity →
CTranslate2 with parity → translate on every backend and serve over HTTP, both directions."""

import contextlib
import socket
import threading
import time

import pytest
from _modeling_helpers import BUILDERS, tatoeba_pairs, tiny_config, write_dataset

from bilingual.evaluation import evaluate_model
from bilingual.inference.ctranslate2 import convert_ctranslate2
from bilingual.inference.export import export_onnx
from bilingual.inference.translator import Translator
from bilingual.modeling.families import family_of_dir
from bilingual.modeling.train import train

PAIRS = tatoeba_pairs(48)
DEV = tatoeba_pairs(8, seed=1)
SRC = {"en": ["I am here.", "Go."], "bn": ["আমি এখানে।", "যাও।"]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("families-ds"), PAIRS, DEV)


@contextlib.contextmanager
def serving(app):
    """uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    import httpx
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_family_fine_tunes_evaluates_exports_and_serves(name, dataset, tmp_path):
    import httpx

    from bilingual.service import ServiceConfig, create_app

    ckpt = BUILDERS[name](tmp_path / "ckpt", tatoeba_pairs(300))
    assert family_of_dir(ckpt).name == name

    # fine-tune a few steps, both directions, dev chrF every 2 steps
    cfg = tiny_config(dataset, tmp_path / "run", max_steps=4, eval_steps=2, save_steps=2, learning_rate=5e-3,
                      model_name_or_path=str(ckpt), tokenizer_name=None, max_eval_samples=4, generation_max_length=8)
    result = train(cfg)
    assert result["family"] == name and result["global_step"] == 4
    out = result["output_dir"]
    evals = [h for h in result["log_history"] if "eval_chrf" in h]
    assert len(evals) == 2 and all({"eval_chrf_bn_en", "eval_chrf_en_bn"} <= set(h) for h in evals)

    # evaluate (the same metric setup as the dev scores)
    scores = evaluate_model(out, DEV[:4], num_beams=1, max_new_tokens=8)
    assert {"bn-en", "en-bn"} <= set(scores) and "tok:intl" in scores["en-bn"]["signatures"]["bleu"]

    # ONNX and CTranslate2, each gated by parity with PyTorch
    onnx = export_onnx(out, sample_texts=DEV[:4], n_sample=8, max_new_tokens=8)
    assert onnx["passed"], onnx
    ct2 = convert_ctranslate2(out, quantization="float32", sample_texts=DEV[:4], n_sample=8, max_new_tokens=8)
    assert ct2["passed"], ct2

    # translate on every backend, both directions: the same text as PyTorch
    backends = {b: Translator(out, b) for b in ("pytorch", "onnx", "ctranslate2")}
    for src, tgt in (("en", "bn"), ("bn", "en")):
        want = backends["pytorch"].translate(SRC[src], src, tgt, max_new_tokens=6)
        assert len(want) == 2 and all(isinstance(t, str) for t in want)
        for backend, tr in backends.items():
            assert tr.translate(SRC[src], src, tgt, max_new_tokens=6) == want, (backend, src, tgt)

    # serve over HTTP (CTranslate2 backend), both directions
    app = create_app(backends["ctranslate2"], ServiceConfig(batching=False, max_new_tokens=6), langid=False)
    with serving(app) as url:
        for src, tgt in (("en", "bn"), ("bn", "en")):
            r = httpx.post(f"{url}/translate", json={"text": SRC[src], "src": src, "tgt": tgt}, timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["translations"] == backends["pytorch"].translate(SRC[src], src, tgt, max_new_tokens=6)
