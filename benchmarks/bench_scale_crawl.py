"""The web crawler at growing sizes: time, CPU and peak RSS of `bilingual scrape` as the crawl grows.

Two modes, each running the real command (`python -m bilingual scrape ... --quiet`) in a fresh subprocess per size
and reading its wall seconds, CPU seconds (user + system of the process and its extraction workers, from wait4) and
peak RSS (the exact high-water mark of the largest process from wait4, and the sum over the process tree sampled
with psutil every 0.1 s). The baseline is the smallest size of the same run; ratios are taken against it.

  crawl:   a synthetic news site served on 127.0.0.1 by a server in its own process (not measured): article pages
           made of real sentences (Bengali TICO-19 and NTREX-128 samples, 12 per page, chosen by a seeded generator
           per page, so every page has its own text), each linking to 10 child pages (a tree: the crawler discovers
           the site by following links), 5 "related" pages anywhere in the site and 5 section fronts. The crawl
           starts from page 0 with politeness delays off for the local host (delay 0, robots.txt without
           Crawl-delay), max_pages = the site size, and does the whole job (fetch, hash, gzip, charset,
           trafilatura, journal fsync, Parquet).
  replay:  a crawl already done: a journal of N page entries (documents of ~600 characters of the same sentences,
           10 out-links each, 9 of every 10 of them not yet fetched) is written, then the command is rerun with
           max_pages = N. It replays the journal (URL sets, frontier of 9N URLs), fetches nothing (the budget is
           spent) and writes manifest and documents again: the crawler's own state at sizes no local crawl reaches
           in minutes.

    nice python benchmarks/bench_scale_crawl.py --mode crawl --sizes 1000 10000
    nice python benchmarks/bench_scale_crawl.py --mode replay --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PAR = ROOT / "data" / "samples" / "parallel"
DAY = "2026-01-01"
NAME = "scalecrawl"
CHILDREN, RELATED, SECTIONS, SENTENCES = 10, 5, 5, 12


# ---------------------------------------------------------------- the synthetic site

def sentence_pool() -> tuple[list[str], list[str]]:
    """(Bengali sentences, English sentences) of the bundled TICO-19 and NTREX-128 samples."""
    sys.path.insert(0, str(ROOT))
    from bilingual.sources.corpora.readers import read_tmx

    bn, en = [], []
    for row in read_tmx(PAR / "tico19-all.en-bn.tmx"):
        bn.append(row["bn"])
        en.append(row["en"])
    bn += (PAR / "ntrex128" / "newstest2019-ref.ben.txt").read_text(encoding="utf-8").splitlines()
    en += (PAR / "ntrex128" / "newstest2019-src.eng.txt").read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in bn if s.strip()], [s.strip() for s in en if s.strip()]


class Site:
    """Page i of an n-page site: its path, and its HTML made of real sentences."""

    def __init__(self, n: int):
        self.n = n
        self.bn, self.en = sentence_pool()

    def path(self, i: int) -> str:
        words = "".join(c if c.isascii() and c.isalnum() else " " for c in self.en[i % len(self.en)].lower()).split()[:6]
        return f"/news/section-{i % SECTIONS}/{i // 1000:04d}/{i}-{'-'.join(words) or 'story'}.html"

    def index_of(self, path: str) -> int | None:
        try:
            i = int(path.rsplit("/", 1)[-1].split("-", 1)[0])
        except ValueError:
            return None
        return i if 0 <= i < self.n and path == self.path(i) else None

    def home(self) -> bytes:
        """The front page (the start URL): links to the first article only."""
        return f'<html><body><h1>Front page</h1><a href="{self.path(0)}">first story</a></body></html>'.encode()

    def html(self, i: int) -> bytes:
        rng = random.Random(i)
        sentences = rng.sample(self.bn, SENTENCES)
        paras = "".join(f"<p>{' '.join(sentences[k:k + 3])}</p>" for k in range(0, SENTENCES, 3))
        children = [j for j in range(CHILDREN * i + 1, CHILDREN * i + CHILDREN + 1) if j < self.n]
        related = [rng.randrange(self.n) for _ in range(RELATED)]
        link = lambda j: f'<li><a href="{self.path(j)}">{self.en[j % len(self.en)][:60]}</a></li>'  # noqa: E731
        nav = "".join(f'<a href="{self.path(j)}">section {j}</a> ' for j in range(min(SECTIONS, self.n)))
        return (f"<!DOCTYPE html><html lang=\"bn\"><head><meta charset=\"utf-8\"><title>{sentences[0][:70]}</title>"
                f"</head><body><header><nav>{nav}</nav></header><main><article><h1>{sentences[0][:70]}</h1>"
                f"<p class=\"byline\">Staff reporter, page {i}</p>{paras}</article>"
                f"<section class=\"more\"><h2>More</h2><ul>{''.join(map(link, children))}</ul></section>"
                f"<aside><h2>Related</h2><ul>{''.join(map(link, related))}</ul></aside></main>"
                f"<footer>synthetic site for the crawl benchmark</footer></body></html>").encode("utf-8")


def _site(n: int):
    """The n-page site as a LocalSite that makes each page when asked (in the server's own process)."""
    sys.path.insert(0, str(ROOT))
    from bilingual.testing_utils import LocalSite, Reply

    site = Site(n)

    def page(path: str):
        i = site.index_of(path)
        return None if i is None else Reply(200, site.html(i))

    return LocalSite({"/robots.txt": Reply(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"}),
                      "/": Reply(200, site.home())}, lookup=page)


# ---------------------------------------------------------------- a synthetic finished crawl (replay mode)

def write_journal(snapshot: Path, n: int) -> None:
    """A journal of a finished n-page crawl of a site of 10n pages: a robots entry, then n page entries (each with
    a Document and 10 out-links: page i links to 10i+1..10i+10, so the frontier left is ~9n URLs)."""
    sys.path.insert(0, str(ROOT))
    from bilingual.schema import Document, LineageRecord, sha256_text

    site = Site(CHILDREN * n + 1)
    host = "http://127.0.0.1:9"  # nothing is fetched: the page budget is spent
    snapshot.mkdir(parents=True, exist_ok=True)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with open(snapshot / "journal.jsonl.tmp", "w", encoding="utf-8") as fh:
        robots = LineageRecord(source=NAME, url=host + "/robots.txt", final_url=host + "/robots.txt", status="ok",
                               http_status=200, bytes=24, attempts=1, robots="robots.txt", license="benchmark",
                               time=now, sha256=sha256_text("User-agent: *\nAllow: /\n"))
        fh.write(json.dumps({"kind": "robots", "lineage": robots.model_dump(mode="json"),
                             "entry": {"origin": host, "state": "parsed", "http_status": 200,
                                       "body": "User-agent: *\nAllow: /\n", "reason": None}}) + "\n")
        for i in range(n):
            url = host + site.path(i)
            rng = random.Random(i)
            text = " ".join(rng.sample(site.bn, 6))
            doc = Document(id=sha256_text(url)[:16], lang="bn", text=text, title=text[:40], source=NAME, url=url,
                           retrieved_at=now, license="benchmark").model_dump(mode="json")
            lin = LineageRecord(source=NAME, url=url, final_url=url, time=now, status="ok", http_status=200,
                                bytes=4000, sha256=sha256_text(url), attempts=1, records=1, robots="allowed",
                                license="benchmark").model_dump(mode="json")
            links = [host + site.path(j) for j in range(CHILDREN * i + 1, CHILDREN * i + CHILDREN + 1)]
            fh.write(json.dumps({"kind": "page", "lineage": lin, "depth": 1, "final_url": url, "fetched": True,
                                 "links": links, "sitemaps": [], "doc": doc, "encoding": "utf-8",
                                 "charset_source": "http-header"}, ensure_ascii=False) + "\n")
    os.replace(snapshot / "journal.jsonl.tmp", snapshot / "journal.jsonl")


# ---------------------------------------------------------------- measuring one command

def measure(cmd: list[str]) -> dict:
    """Run `cmd`; wall s, CPU s of the tree (wait4), exact peak RSS of its largest process (wait4) and the largest
    sum of RSS over the process and its descendants seen by sampling every 0.1 s."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), BILINGUAL_QUIET="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    main_peak = tree_peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = ps.memory_info().rss
            kids = 0
            for child in ps.children(recursive=True):
                try:
                    kids += child.memory_info().rss
                except psutil.Error:
                    pass
            main_peak, tree_peak = max(main_peak, rss), max(tree_peak, rss + kids)
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-3000:]}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb_largest_process": round(usage.ru_maxrss / 1024, 1),
            "peak_rss_mb_main_sampled": round(main_peak / 2**20, 1),
            "peak_rss_mb_tree_sampled": round(tree_peak / 2**20, 1)}


def recipe(folder: Path, start: str, n: int) -> Path:
    import yaml

    path = folder / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump({
        "name": NAME, "language": "bn", "license": "benchmark", "start_urls": [start],
        "allowed_domains": ["127.0.0.1"], "max_pages": n, "max_depth": 20, "delay": 0.0, "concurrency": 1,
        "timeout": 30, "max_attempts": 2, "backoff": 0.1, "documents": {"min_chars": 100}}), encoding="utf-8")
    return path


def run_size(mode: str, n: int, work: Path, processes: int) -> dict:
    folder = work / f"{mode}-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = folder / "data"
    snapshot = out / "raw" / DAY / NAME
    cmd = [sys.executable, "-m", "bilingual", "scrape", "--output-dir", str(out), "--day", DAY, "--quiet",
           "--processes", str(processes), "--sources"]
    if mode == "crawl":
        sys.path.insert(0, str(ROOT))
        from bilingual.testing_utils import SiteProcess

        with SiteProcess(_site, n) as server:  # its own process: not measured
            row = measure(cmd + [str(recipe(folder, server.url("/"), n + 1))])
    else:
        subprocess.run([sys.executable, __file__, "--write-journal", str(snapshot), "--sizes", str(n)], check=True)
        row = measure(cmd + [str(recipe(folder, "http://127.0.0.1:9/", n))])
    summary = json.loads((snapshot / "summary.json").read_text())
    journal_mb = (snapshot / "journal.jsonl").stat().st_size / 2**20
    row = {"mode": mode, "size": n, "processes": processes, "urls_attempted": summary["urls_attempted"],
           "fetched": summary["fetched"], "documents": summary["documents"], "journal_mb": round(journal_mb, 1),
           **row}
    pages = summary["urls_attempted"]
    row["pages_per_s"] = round(pages / row["seconds"], 1)
    row["pages_per_cpu_s"] = round(pages / row["cpu_seconds"], 1)
    shutil.rmtree(folder, ignore_errors=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["crawl", "replay"], default="crawl")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--processes", type=int, default=1, help="extraction processes (default 1, the default)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_scale_crawl"))
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--write-journal", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_journal:  # in its own process, so the measured command's parent stays small
        write_journal(args.write_journal, args.sizes[0])
        return 0
    result = {"started_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
              "uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
              "mode": args.mode, "runs": []}
    for n in args.sizes:
        row = run_size(args.mode, n, args.work, args.processes)
        print(json.dumps(row), flush=True)
        result["runs"].append(row)
    base = result["runs"][0]
    for row in result["runs"][1:]:
        ratio = lambda field: round(row[field] / base[field], 3)  # noqa: E731
        row["vs_baseline"] = {"size": ratio("size"), "peak_rss_largest_process": ratio("peak_rss_mb_largest_process"),
                              "peak_rss_tree": ratio("peak_rss_mb_tree_sampled"), "pages_per_s": ratio("pages_per_s"),
                              "pages_per_cpu_s": ratio("pages_per_cpu_s")}
    result["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result["ended_utc"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
