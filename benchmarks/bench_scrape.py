"""Web collector benchmark: crawl throughput with 1 vs N extraction processes, and a politeness check.

    flock /tmp/bench.lock /tmp/venv0/bin/python benchmarks/bench_scrape.py --pages 300 --repeats 2

Throughput: a local HTTP server (its own process) serves `--pages` copies of the two bundled real
news pages (each copy made distinct by a marker paragraph, so every page becomes a Document);
the crawl starts from all of them, politeness delays off (delay 0, no robots Crawl-delay), full
pipeline included (fetch, hash, gzip raw body, charset, trafilatura extraction, journal, Parquet).
Baseline: processes=1 (extraction on a thread of the crawl process), same run; reported as the ratio.

Politeness: two host names of one server (127.0.0.1 with robots.txt `Crawl-delay`, localhost
without) crawled at once; the server's own arrival times give the smallest spacing per host,
which must not fall below max(configured delay, robots delay).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _site(pages: int, robots: str):
    """`pages` distinct copies of the two bundled news pages at /c/<i>, and robots.txt (in the server process)."""
    from bilingual.testing_utils import BN_PAGE, EN_PAGE, LOG_ROUTE, LocalSite, Reply

    bn, en = BN_PAGE.read_text(encoding="utf-8"), EN_PAGE.read_text(encoding="utf-8")
    routes = {"/robots.txt": Reply(200, robots.encode(), {"Content-Type": "text/plain"})}
    for i in range(pages):
        page, anchor = (bn, "আটক করেছে পুলিশ।") if i % 2 == 0 else (en, "continues to rise.</p>")
        page = page.replace(anchor, anchor + f"<p>Copy {i} of this article for the benchmark.</p>", 1)
        routes[f"/c/{i}"] = Reply(200, page.encode("utf-8"))
    return LocalSite(routes, log_route=LOG_ROUTE)


def served_site(pages: int, robots: str = "User-agent: *\nAllow: /\n"):
    """The site served in a process of its own (its work is not counted with the crawl's)."""
    from bilingual.testing_utils import SiteProcess

    return SiteProcess(_site, pages, robots)


def throughput(pages: int, processes: list[int], repeats: int) -> list[dict]:
    from bilingual.sources.web.crawl import crawl
    from bilingual.sources.web.config import SourceConfig

    import resource

    def cpu(who):
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    results = {p: [] for p in processes}
    cpu_main = {p: [] for p in processes}
    cpu_workers = {p: [] for p in processes}
    with served_site(pages) as server:
        cfg = SourceConfig(name="bench", language="bn", license="benchmark", allowed_domains=["127.0.0.1"],
                           start_urls=[server.url(f"/c/{i}") for i in range(pages)], max_pages=pages,
                           max_depth=0, delay=0.0, concurrency=4, timeout=30, documents={"min_chars": 100})
        for _ in range(repeats):
            for p in processes:  # interleaved, so background load hits every setting alike
                with tempfile.TemporaryDirectory() as tmp:
                    c0, w0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
                    t0 = time.perf_counter()
                    summary = crawl(cfg, tmp, day="2026-01-01", processes=p, quiet=True)
                    seconds = time.perf_counter() - t0
                    # worker processes are joined when the crawl ends, so their CPU time is counted here
                    c1, w1 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
                assert summary["documents"] == pages, summary
                results[p].append(seconds)
                cpu_main[p].append((c1 - c0) / pages)
                cpu_workers[p].append((w1 - w0) / pages)
    base = min(results[processes[0]])
    base_cpu = min(cpu_main[processes[0]]) + min(cpu_workers[processes[0]])
    rows = []
    for p in processes:
        main_ms, work_ms = 1000 * min(cpu_main[p]), 1000 * min(cpu_workers[p])
        # the speedup the work allows on p idle cores: the busiest of (crawl process, each worker)
        critical_ms = max(main_ms, work_ms / p) if p > 1 else main_ms + work_ms
        rows.append({"processes": p, "pages": pages, "best_s": round(min(results[p]), 2),
                     "all_s": [round(s, 2) for s in results[p]], "pages_per_s": round(pages / min(results[p]), 1),
                     "speedup_vs_1": round(base / min(results[p]), 2),
                     "cpu_ms_per_page_main": round(main_ms, 1), "cpu_ms_per_page_workers": round(work_ms, 1),
                     "speedup_ceiling_idle_cores": round(1000 * base_cpu / critical_ms, 2)})
    return rows


def _control_job(args) -> str:
    from bilingual.sources.web.extract import process_page

    i, body, raw_dir = args
    body = body.replace(b"</body>", f"<p>{i}</p></body>".encode(), 1)
    return process_page(body, "text/html; charset=utf-8", f"http://127.0.0.1/c/{i}", raw_dir, {})["sha256"]


def control(pages: int, processes: int) -> dict:
    """The machine's own ceiling: the same extraction function, serial vs a bare process pool, no
    crawler around it. When this ratio is low too, the CPU share (not the crawler) is the limit."""
    from concurrent.futures import ProcessPoolExecutor

    from bilingual.testing_utils import BN_PAGE, EN_PAGE

    import trafilatura  # noqa: F401  (inherited by forked workers)

    bodies = [BN_PAGE.read_bytes(), EN_PAGE.read_bytes()]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(i, bodies[i % 2], tmp) for i in range(pages)]
        t0 = time.perf_counter()
        for job in jobs:
            _control_job(job)
        serial = time.perf_counter() - t0
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
            list(pool.map(_control_job, jobs[:processes]))
            t0 = time.perf_counter()
            list(pool.map(_control_job, jobs))
            pooled = time.perf_counter() - t0
    return {"pages": pages, "serial_s": round(serial, 2), f"pool{processes}_s": round(pooled, 2),
            "ratio": round(serial / pooled, 2)}


def politeness(per_host: int = 8, delay: float = 0.15, crawl_delay: float = 0.3) -> list[dict]:
    from bilingual.sources.web.crawl import crawl
    from bilingual.sources.web.config import SourceConfig

    # two hosts crawled at once: 127.0.0.1 (robots.txt with a Crawl-delay above the configured delay)
    # and localhost (another server, robots.txt without one: the configured delay applies)
    with served_site(per_host, robots=f"User-agent: *\nCrawl-delay: {crawl_delay}\n") as a, \
            served_site(per_host, robots="User-agent: *\nAllow: /\n") as b:
        starts = [a.url(f"/c/{i}") for i in range(per_host)] + [b.url(f"/c/{i}", host="localhost")
                                                                 for i in range(per_host)]
        cfg = SourceConfig(name="polite", language="bn", license="benchmark", start_urls=starts,
                           allowed_domains=["127.0.0.1", "localhost"], max_pages=2 * per_host, max_depth=0,
                           delay=delay, concurrency=2, documents={"min_chars": 100})
        with tempfile.TemporaryDirectory() as tmp:
            crawl(cfg, tmp, day="2026-01-01", processes=1, quiet=True)
        rows = []
        for server, host, required in ((a, "127.0.0.1", max(delay, crawl_delay)), (b, "localhost", delay)):
            times = sorted(t for t, h, _p in server.log() if h == host)
            gaps = [y - x for x, y in zip(times, times[1:])]
            rows.append({"host": host, "requests": len(times), "required_s": required,
                         "min_gap_s": round(min(gaps), 4), "mean_gap_s": round(sum(gaps) / len(gaps), 4),
                         "ok": min(gaps) >= required})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    load = os.getloadavg()
    ctrl = control(min(args.pages, 120), max(args.processes))
    rows = throughput(args.pages, args.processes, args.repeats)
    polite = politeness()
    result = {"load_before": [round(x, 2) for x in load], "load_after": [round(x, 2) for x in os.getloadavg()],
              "cpus": os.cpu_count(), "control_bare_pool": ctrl, "throughput": rows, "politeness": polite}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(r["ok"] for r in polite) else 1


if __name__ == "__main__":
    sys.exit(main())
