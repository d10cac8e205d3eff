"""Load benchmarks of the translation service, each against a named baseline in the same run.

`--scenario mixed` (default; issue 15): heavy clients (requests of 32 long texts at beams 4) and light clients
(one short sentence, greedy) at once, against two real servers: fair scheduling (`--max-call-cost 512`, the
default: heavy requests split into small model calls interleaved with everyone else's) and the baseline,
whole-request model calls (`--max-call-cost 0`, the scheduling before issue 15). Reported per client class:
requests/s, p50/p99 latency, 5xx and connection failures; the headline is the light requests' p99.

`--scenario batching` (issue 8): dynamic batching on vs off, described below.

For each mode a real server (`python -m bilingual serve`) is started on 127.0.0.1 in its own process;
this process is the client: N concurrent clients (asyncio + httpx) each send one-sentence en->bn
requests back to back for D seconds (after a warm-up). Reported: requests/s, p50/p99 latency, 5xx and
other failures, the server's mean texts per model call (from /metrics), and the on/off throughput ratio.

Baseline: the same server with --no-batching (one model call per request, same single model thread).

    flock /tmp/bench.lock python benchmarks/bench_service.py [--model DIR] [--seconds 20]
    flock /tmp/bench.lock python benchmarks/bench_service.py --scenario batching [--clients 16]

Without --model, the tiny trained model of benchmarks/_helpers.py is built (once, 600 steps so its outputs
end with EOS like a real model's) into --model-cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q: float) -> float:
    if not values:
        return float("nan")
    vs = sorted(values)
    k = (len(vs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (k - lo)


def start_server(model: Path, port: int, extra: list[str], log: Path) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "bilingual", "serve", "--model", str(model), "--port", str(port), "--quiet", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("server did not start")


async def load(url: str, texts: list[str], clients: int, seconds: float, warmup: float,
               make_payload=None) -> dict:
    """`clients` clients sending back to back for `seconds` after `warmup`; `make_payload(rng)` gives each
    request (default: one random sentence, en->bn greedy)."""
    import httpx

    latencies, statuses, failures = [], {}, 0
    rng = random.Random(0)
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    make_payload = make_payload or (lambda r: {"text": texts[r.randrange(len(texts))], "src": "en", "tgt": "bn"})

    async def client(i: int):
        nonlocal failures
        async with httpx.AsyncClient(timeout=300) as http:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    r = await http.post(f"{url}/translate", json=make_payload(rng))
                    code = r.status_code
                except httpx.HTTPError:
                    code = None
                t1 = time.perf_counter()
                # every request that ends after the warm-up, however long it took (a request stuck behind
                # a heavy one is exactly what is measured); none is started after the window
                if t1 >= measure_from:
                    if code is None:
                        failures += 1
                    else:
                        statuses[code] = statuses.get(code, 0) + 1
                        if code == 200:
                            latencies.append(t1 - t0)

    await asyncio.gather(*(client(i) for i in range(clients)))
    ok = len(latencies)
    return {"latencies": latencies, "requests_ok": ok, "requests_per_s": ok / seconds, "p50_ms": 1000 * percentile(latencies, 0.5),
            "p99_ms": 1000 * percentile(latencies, 0.99), "mean_ms": 1000 * statistics.fmean(latencies) if ok else None,
            "status_counts": {str(k): v for k, v in sorted(statuses.items())},
            "5xx": sum(v for k, v in statuses.items() if k >= 500), "connection_failures": failures}


def stop_servers(servers: dict) -> None:
    """Terminate every benchmark server (mode -> (process, url)), killing any that ignores it for 20 s."""
    for proc, _ in servers.values():
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def batch_stats(url: str) -> dict:
    import httpx

    text = httpx.get(f"{url}/metrics").text

    def metric(name):
        m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    calls = metric("bilingual_batch_texts_count")
    return {"model_calls": int(calls), "mean_texts_per_call": metric("bilingual_batch_texts_sum") / calls if calls else 0}


def summarize(runs: list[dict], seconds: float) -> dict:
    lat = [x for r in runs for x in r["latencies"]]
    statuses: dict = {}
    for r in runs:
        for k, v in r["status_counts"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {"requests_ok": len(lat), "requests_per_s": len(lat) / (seconds * len(runs)),
            "per_round_requests_per_s": [round(r["requests_per_s"], 2) for r in runs],
            "p50_ms": 1000 * percentile(lat, 0.5), "p99_ms": 1000 * percentile(lat, 0.99),
            "max_ms": 1000 * max(lat) if lat else float("nan"), "status_counts": statuses,
            "5xx": sum(r["5xx"] for r in runs), "connection_failures": sum(r["connection_failures"] for r in runs)}


async def mixed_load(url: str, texts: list[str], heavy_texts: list[str], light_clients: int, heavy_clients: int,
                     heavy_beams: int, heavy_size: int, seconds: float, warmup: float) -> dict:
    heavy = lambda r: {"text": r.sample(heavy_texts, heavy_size), "src": "en", "tgt": "bn", "beams": heavy_beams}
    light = lambda r: {"text": texts[r.randrange(len(texts))], "src": "en", "tgt": "bn"}
    h, l = await asyncio.gather(load(url, texts, heavy_clients, seconds, warmup, heavy),
                                load(url, texts, light_clients, seconds, warmup, light))
    return {"heavy": h, "light": l}


def run_mixed(args, model: Path, texts: list[str]) -> int:
    """Fair scheduling vs whole-request calls under mixed heavy + light load; rounds alternate A B B A."""
    import httpx

    long_texts = [t for t in texts if len(t) >= 60] or texts
    heavy_texts = [" ".join(random.Random(i).sample(long_texts, 3))[:180] for i in range(256)]
    modes = {"fair (--max-call-cost 512)": ["--max-call-cost", "512"],
             "baseline: whole requests (--max-call-cost 0)": ["--max-call-cost", "0"]}
    results = {"scenario": "mixed", "model": str(model), "light_clients": args.light_clients,
               "heavy_clients": args.heavy_clients, "heavy_request": f"{args.heavy_size} texts of up to 180 characters, beams "
               f"{args.heavy_beams}", "light_request": "1 sentence, greedy", "seconds": args.seconds,
               "rounds": args.rounds, "cpus": os.cpu_count(), "loadavg_before": os.getloadavg(), "modes": {}}
    servers = {}
    try:
        for i, (mode, flags) in enumerate(modes.items()):
            port = free_port()
            servers[mode] = (start_server(model, port, flags + [] + args.server_args.split(),
                                          Path(f"/tmp/bench_service_mixed_{i}.log")), f"http://127.0.0.1:{port}")
        names = list(modes)
        order = []
        for r in range(args.rounds):
            order += names if r % 2 == 0 else names[::-1]
        raw = {mode: [] for mode in modes}
        for mode in order:
            res = asyncio.run(mixed_load(servers[mode][1], texts, heavy_texts, args.light_clients,
                                         args.heavy_clients, args.heavy_beams, args.heavy_size, args.seconds,
                                         args.warmup))
            raw[mode].append(res)
            print(f"{mode}: " + json.dumps({c: {k: v for k, v in r.items() if k != "latencies"}
                                            for c, r in res.items()}), flush=True)
        for mode, (proc, url) in servers.items():
            results["modes"][mode] = {c: summarize([r[c] for r in raw[mode]], args.seconds) for c in ("light", "heavy")}
            results["modes"][mode].update(batch_stats(url), backend=httpx.get(f"{url}/health").json()["backend"],
                                          server_alive=proc.poll() is None)
    finally:
        stop_servers(servers)
    results["loadavg_after"] = os.getloadavg()
    fair, base = (results["modes"][m] for m in modes)
    results["light_p99_ratio_baseline_over_fair"] = base["light"]["p99_ms"] / fair["light"]["p99_ms"]
    print()
    print("| scheduling | light req/s | light p50 ms | light p99 ms | light max ms | heavy req/s | heavy p50 ms | "
          "heavy p99 ms | 5xx | failures | model calls | texts per call |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, r in results["modes"].items():
        li, he = r["light"], r["heavy"]
        print(f"| {mode} | {li['requests_per_s']:.1f} | {li['p50_ms']:.0f} | {li['p99_ms']:.0f} | {li['max_ms']:.0f} | "
              f"{he['requests_per_s']:.2f} | {he['p50_ms']:.0f} | {he['p99_ms']:.0f} | {li['5xx'] + he['5xx']} | "
              f"{li['connection_failures'] + he['connection_failures']} | {r['model_calls']} | "
              f"{r['mean_texts_per_call']:.1f} |")
    print(f"\nlight p99: baseline / fair = {results['light_p99_ratio_baseline_over_fair']:.2f}x; "
          f"loadavg before {results['loadavg_before']}, after {results['loadavg_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    bad = sum(r[c]["5xx"] + r[c]["connection_failures"] for r in results["modes"].values() for c in ("light", "heavy"))
    return 1 if bad else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", choices=("mixed", "batching"), default="mixed")
    p.add_argument("--light-clients", type=int, default=4, help="mixed: clients sending one short sentence")
    p.add_argument("--heavy-clients", type=int, default=2, help="mixed: clients sending --heavy-size long texts")
    p.add_argument("--heavy-beams", type=int, default=4, help="mixed: beam size of the heavy requests")
    p.add_argument("--heavy-size", type=int, default=16, help="mixed: texts in one heavy request")
    p.add_argument("--model", help="model folder to serve (default: build the tiny test model)")
    p.add_argument("--model-cache", default="/tmp/bilingual-bench-service-model")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds per round and mode")
    p.add_argument("--rounds", type=int, default=2, help="load phases per mode, alternated (default 2: A B B A)")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--server-args", default="--backend onnx", help="extra `bilingual serve` flags for both modes "
                   "(default: --backend onnx; the test model's export has no recorded parity gate)")
    p.add_argument("--json", help="write the results here as JSON")
    p.add_argument("--label", default="", help="a name for this configuration in the output")
    args = p.parse_args(argv)

    sys.path.insert(0, str(REPO / "benchmarks"))
    from _helpers import TINY_MODEL_DONE, english_sentences, tiny_trained_marian

    if args.model:
        model = Path(args.model)
    else:
        model = Path(args.model_cache)
        if not (model / TINY_MODEL_DONE).exists():
            print(f"building the tiny test model in {model} ...", flush=True)
            tiny_trained_marian(model, steps=600)  # trained enough that outputs end (EOS), like a real model
    texts = english_sentences()
    if args.scenario == "mixed":
        return run_mixed(args, model, texts)
    load_before = os.getloadavg()
    results = {"model": str(model), "clients": args.clients, "seconds": args.seconds, "warmup": args.warmup,
               "rounds": args.rounds, "cpus": os.cpu_count(), "loadavg_before": load_before, "modes": {}}
    # both servers up at once; load phases alternate A B B A ... so drifting machine load hits both alike
    servers = {}
    try:
        for mode, flags in (("batching", []), ("no-batching", ["--no-batching"])):
            port = free_port()
            servers[mode] = (start_server(model, port, flags + args.server_args.split(),
                                          Path(f"/tmp/bench_service_{mode}.log")), f"http://127.0.0.1:{port}")
        order = []
        for r in range(args.rounds):
            order += ["batching", "no-batching"] if r % 2 == 0 else ["no-batching", "batching"]
        raw = {mode: [] for mode in servers}
        for mode in order:
            res = asyncio.run(load(servers[mode][1], texts, args.clients, args.seconds, args.warmup))
            raw[mode].append(res)
            print(f"{mode}: {json.dumps({k: v for k, v in res.items() if k != 'latencies'})}", flush=True)
        for mode, (proc, url) in servers.items():
            runs = raw[mode]
            lat = [x for r in runs for x in r.pop("latencies")]
            statuses = {}
            for r in runs:
                for k, v in r["status_counts"].items():
                    statuses[k] = statuses.get(k, 0) + v
            res = {"requests_ok": len(lat), "requests_per_s": len(lat) / (args.seconds * len(runs)),
                   "per_round_requests_per_s": [round(r["requests_per_s"], 2) for r in runs],
                   "p50_ms": 1000 * percentile(lat, 0.5), "p99_ms": 1000 * percentile(lat, 0.99),
                   "status_counts": statuses, "5xx": sum(r["5xx"] for r in runs),
                   "connection_failures": sum(r["connection_failures"] for r in runs)}
            res.update(batch_stats(url))
            import httpx

            res["backend"] = httpx.get(f"{url}/health").json()["backend"]
            res["server_alive"] = proc.poll() is None
            results["modes"][mode] = res
    finally:
        stop_servers(servers)
    results["loadavg_after"] = os.getloadavg()
    on, off = results["modes"]["batching"], results["modes"]["no-batching"]
    results["throughput_ratio"] = on["requests_per_s"] / off["requests_per_s"] if off["requests_per_s"] else None
    print()
    print("| mode | req/s | req/s per round | p50 ms | p99 ms | 5xx | failures | texts per model call |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for mode, r in results["modes"].items():
        print(f"| {mode} | {r['requests_per_s']:.1f} | {r['per_round_requests_per_s']} | {r['p50_ms']:.0f} | "
              f"{r['p99_ms']:.0f} | {r['5xx']} | {r['connection_failures']} | {r['mean_texts_per_call']:.1f} |")
    print(f"\nthroughput ratio batching/no-batching: {results['throughput_ratio']:.2f}x "
          f"(target >= 2x); loadavg before {load_before}, after {results['loadavg_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    bad = on["5xx"] + off["5xx"] + on["connection_failures"] + off["connection_failures"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
