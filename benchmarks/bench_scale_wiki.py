"""Scale — dumps: does `bilingual collect-wiki` keep memory flat and time linear from 10× to 100× the sample?

Synthesizes dumps inside the benchmark by repeating the pages of the bundled 722-page bnwiki sample with new
page ids and titles (copy k: page id + k·10^7, title + " (k)"), written two ways:
  single   one bz2 stream (compresslevel 9, as Wikimedia's pages-articles.xml.bz2)
  multi    a multistream dump (one bz2 stream per 100 pages) + its bz2 index, as Wikimedia's *-multistream files
Each configuration (shape × multiplier × processes) runs the real command in a fresh subprocess:

    python -m bilingual collect-wiki --dump D [--index I] --lang bn --output-dir OUT --processes N --quiet

while this process samples the RSS of the command and every descendant (psutil, every 0.1 s) and reads the
exact high-water mark of the largest process from getrusage(RUSAGE_CHILDREN), and CPU seconds (user + system, last
value seen) of the command's process, of each of its threads and of every descendant. Reports pages/s and pages per
CPU second, peak RSS of the main process and of the largest worker, the 100×/10× ratios, the 2-process speed-up
(wall, and the bound CPU accounting gives for 2 free cores: CPU(1 process) / max(CPU(2 processes) / 2, busiest
thread), since one thread never uses more than one core), and hours extrapolated for full bnwiki (~0.4 GB bz2)
and enwiki (~22 GB bz2) per N cores from the measured per-core throughput.

    nice python benchmarks/bench_scale_wiki.py                      # 10× and 100×, all shapes, 1 and 2 processes
    nice python benchmarks/bench_scale_wiki.py --mult 10 --mult 30  # smaller
    nice python benchmarks/bench_scale_wiki.py --mult 10 --shape single --processes 1 --processes 2 --repeat 3 \\
        --baseline-code /tmp/base       # 2 vs 1 process, interleaved, against a baseline checkout; SUMMARY lines
Synthesized dumps are cached in --work-dir (default /tmp/bench_scale_wiki) and reused by later runs.
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "wiki" / "bnwiki-202305-first722pages-pages-articles.xml.bz2"
ID_STEP = 10_000_000
BNWIKI_GB, ENWIKI_GB = 0.4, 22.0


# ---------------------------------------------------------------- synthesis

_PAGE_ID = re.compile(rb"(<ns>\d+</ns>\s*<id>)(\d+)(</id>)")
_TITLE = re.compile(rb"<title>(.*?)</title>")


def _copy(page: bytes, k: int) -> tuple[bytes, int, str]:
    """Page copy k with a new page id and title; returns (xml, page id, title)."""
    if k:
        page = _PAGE_ID.sub(lambda m: m.group(1) + str(int(m.group(2)) + k * ID_STEP).encode() + m.group(3), page, 1)
        page = _TITLE.sub(lambda m: b"<title>" + m.group(1) + f" ({k})".encode() + b"</title>", page, 1)
    pid = int(_PAGE_ID.search(page).group(2))
    title = _TITLE.search(page).group(1).decode()
    return page, pid, title


def synthesize(mult: int, work: Path) -> dict[str, tuple[Path, Path | None]]:
    """Single-stream and multistream(+index) dumps of `mult` copies of the sample (cached in `work`)."""
    work.mkdir(parents=True, exist_ok=True)
    single = work / f"bnwiki-20230501-x{mult}-pages-articles.xml.bz2"
    multi = work / f"bnwiki-20230501-x{mult}-pages-articles-multistream.xml.bz2"
    index = work / f"bnwiki-20230501-x{mult}-pages-articles-multistream-index.txt.bz2"
    if not (single.exists() and multi.exists() and index.exists()):
        sys.path.insert(0, str(ROOT))
        from bilingual.testing_utils import split_pages

        header, pages, footer = split_pages(bz2.decompress(SAMPLE.read_bytes()))
        t = time.perf_counter()
        tmp_s, tmp_m, tmp_i = (Path(str(p) + ".tmp") for p in (single, multi, index))
        comp = bz2.BZ2Compressor(9)
        lines: list[str] = []
        with open(tmp_s, "wb") as fs, open(tmp_m, "wb") as fm:
            fs.write(comp.compress(header))
            fm.write(bz2.compress(header))
            for k in range(mult):
                for i in range(0, len(pages), 100):
                    offset = fm.tell()
                    group = []
                    for page in pages[i:i + 100]:
                        xml, pid, title = _copy(page, k)
                        group.append(xml)
                        lines.append(f"{offset}:{pid}:{title}")
                    body = b"".join(group)
                    fs.write(comp.compress(body))
                    fm.write(bz2.compress(body))
            fs.write(comp.compress(footer) + comp.flush())
            fm.write(bz2.compress(footer))
        tmp_i.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
        for tmp, final in ((tmp_s, single), (tmp_m, multi), (tmp_i, index)):
            tmp.rename(final)
        print(f"synthesized ×{mult}: {single.stat().st_size / 1e6:.0f} MB single, {multi.stat().st_size / 1e6:.0f} MB "
              f"multistream, {len(lines):,} pages ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return {"single": (single, None), "multi": (multi, index)}


# ---------------------------------------------------------------- one measured run

def measure(dump: Path, index: Path | None, processes: int, code: Path = ROOT) -> dict:
    """One run of the real command with the package found in `code` (this checkout, or a baseline's)."""
    out = Path(tempfile.mkdtemp(prefix="scale-wiki-", dir=dump.parent))
    cmd = [sys.executable, "-m", "bilingual", "collect-wiki", "--dump", str(dump), "--lang", "bn",
           "--output-dir", str(out), "--processes", str(processes), "--date", "2026-01-01", "--quiet"]
    if index:
        cmd += ["--index", str(index)]
    env = dict(os.environ, PYTHONPATH=str(code) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage0.ru_maxrss
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    main_peak, worker_peak, main_cpu = 0, 0, 0.0
    child_cpu: dict[int, float] = {}  # last CPU seconds seen per descendant (forkserver workers are not waited for)
    thread_cpu: dict[int, float] = {}  # last CPU seconds seen per thread of the command's own process
    while proc.poll() is None:
        try:
            main_peak = max(main_peak, ps.memory_info().rss)
            times = ps.cpu_times()
            main_cpu = times.user + times.system
            for th in ps.threads():
                thread_cpu[th.id] = th.user_time + th.system_time
            for child in ps.children(recursive=True):
                try:
                    worker_peak = max(worker_peak, child.memory_info().rss)
                    ct = child.cpu_times()
                    child_cpu[child.pid] = ct.user + ct.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"collect-wiki failed ({proc.returncode}): {stderr[-2000:]}")
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    exact = usage1.ru_maxrss * 1024  # largest process so far, exact
    # all its processes: the command's own (from getrusage) plus what each descendant was last seen using
    cpu_total = main_cpu + sum(child_cpu.values())
    snap = out / "raw" / "2026-01-01" / "wikipedia-bn"
    stats = json.loads(next(snap.glob("stats-*.json")).read_text())
    shards = sorted(snap.glob("documents-*.parquet"))
    shutil.rmtree(out)
    return {"seconds": seconds, "pages": stats["pages"], "documents": stats["documents"],
            "pages_per_s": stats["pages"] / seconds, "rss_main_mb": main_peak / 2**20,
            "rss_worker_mb": worker_peak / 2**20,
            "rss_max_exact_mb": exact / 2**20 if exact > before * 1024 else None,
            "shards": len(shards), "compressed_mb": dump.stat().st_size / 1e6,
            "cpu_total_s": cpu_total, "cpu_main_s": main_cpu,
            # one thread runs on one core at most: the busiest thread or worker bounds the wall time
            "cpu_busiest_thread_s": max(list(thread_cpu.values()) + list(child_cpu.values()) + [0.0]),
            "cpu_main_threads_s": sorted(thread_cpu.values(), reverse=True)[:4],  # its busiest threads
            "pages_per_cpu_s": stats["pages"] / cpu_total if cpu_total else None, "code": str(code)}


def _median(runs: list[dict]) -> dict:
    """Per-key median over repeated runs of one configuration (numbers only; the rest from the first run)."""
    out = dict(runs[0], runs=len(runs))
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in runs if r.get(k) is not None)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mult", type=int, action="append", help="multipliers (default: 10 and 100)")
    ap.add_argument("--processes", type=int, action="append", help="process counts (default: 1 and 2)")
    ap.add_argument("--shape", action="append", choices=["single", "multi"], help="dump shapes (default: both)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per configuration, interleaved (1, 2, 1, 2, ...); tables show medians")
    ap.add_argument("--baseline-code", type=Path,
                    help="a checkout of the baseline (e.g. `git worktree add /tmp/base main`): each configuration "
                         "also runs with its package, interleaved with this checkout's")
    ap.add_argument("--work-dir", default="/tmp/bench_scale_wiki")
    ap.add_argument("--json", help="also write the results (every run) here")
    args = ap.parse_args()
    mults = sorted(args.mult or [10, 100])
    procs = args.processes or [1, 2]
    shapes = args.shape or ["single", "multi"]
    codes = [("this", ROOT)] + ([("baseline", args.baseline_code.resolve())] if args.baseline_code else [])
    work = Path(args.work_dir)
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    runs: dict[tuple, list[dict]] = {}
    for mult in mults:
        files = synthesize(mult, work)
        for shape in shapes:
            for _ in range(args.repeat):
                for n in procs:
                    for label, code in codes:
                        r = measure(*files[shape], n, code)
                        r.update(shape=shape, mult=mult, processes=n, label=label)
                        runs.setdefault((label, shape, mult, n), []).append(r)
                        print(json.dumps(r), file=sys.stderr, flush=True)
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    key = {k: _median(v) for k, v in runs.items()}
    results = list(key.values())

    print(f"{started} UTC – {time.strftime('%H:%M', time.gmtime())} UTC; load average before: {load_before}; "
          f"after: {load_after}; medians of {args.repeat} run(s) each\n")
    print("| code | shape | × sample | compressed MB | processes | pages | seconds | pages/s | CPU s all / main process "
          "/ busiest thread | pages per CPU s | peak RSS main / largest worker (MB) | shards |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        worker = f"{r['rss_worker_mb']:.0f}" if r["processes"] > 1 else "–"
        print(f"| {r['label']} | {r['shape']} | {r['mult']} | {r['compressed_mb']:.0f} | {r['processes']} | "
              f"{r['pages']:,} | {r['seconds']:.1f} | {r['pages_per_s']:.0f} | {r['cpu_total_s']:.1f} / "
              f"{r['cpu_main_s']:.1f} / {r['cpu_busiest_thread_s']:.1f} | {r['pages_per_cpu_s']:.0f} | "
              f"{r['rss_main_mb']:.0f} / {worker} | {r['shards']} |")
    lo, hi = mults[0], mults[-1]
    if lo != hi:
        print(f"\n| code | shape | processes | peak RSS ×{hi}/×{lo} (≤ 1.2) | max RSS any process (MB, < 500) | "
              f"pages/s ×{hi} / ×{lo} (≥ 0.85) | pages per CPU s ×{hi} / ×{lo} (≥ 0.85) |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        peak = lambda r: max(r["rss_main_mb"], r["rss_worker_mb"])
        for label, _ in codes:
            for shape in shapes:
                for n in procs:
                    a, b = key.get((label, shape, lo, n)), key.get((label, shape, hi, n))
                    if a and b:
                        print(f"| {label} | {shape} | {n} | {peak(b) / peak(a):.2f} | {max(peak(a), peak(b)):.0f} | "
                              f"{b['pages_per_s'] / a['pages_per_s']:.2f} | "
                              f"{b['pages_per_cpu_s'] / a['pages_per_cpu_s']:.2f} |")
    summaries = []
    if 1 in procs and 2 in procs:
        # On a loaded machine wall time says little about 2 vs 1 process; CPU seconds do: with 2 free cores the
        # 2-process run can finish no sooner than max(its total CPU / 2, the CPU of its busiest thread).
        print("\n| code | shape | × sample | wall: 2 processes / 1 (single-stream target ≥ 1.4) | CPU s: 1 process; "
              "2 processes all / busiest thread | bound on 2 free cores: CPU(1) / max(CPU(2)/2, busiest thread) |")
        print("| --- | --- | ---: | ---: | --- | ---: |")
        for label, _ in codes:
            for shape in shapes:
                for mult in mults:
                    one, two = key.get((label, shape, mult, 1)), key.get((label, shape, mult, 2))
                    if not (one and two):
                        continue
                    wall = one["seconds"] / two["seconds"]
                    bound = one["cpu_total_s"] / max(two["cpu_total_s"] / 2, two["cpu_busiest_thread_s"])
                    print(f"| {label} | {shape} | {mult} | {wall:.2f} | {one['cpu_total_s']:.1f}; "
                          f"{two['cpu_total_s']:.1f} / {two['cpu_busiest_thread_s']:.1f} | {bound:.2f} |")
                    summaries.append(f"SUMMARY {label} code, {shape} ×{mult}: 2 processes / 1 process = {wall:.2f}× "
                                     f"wall (median of {args.repeat}; target ≥ 1.4), CPU-accounting bound on 2 free "
                                     f"cores {bound:.2f}×")
    # extrapolation: compressed MB/s per process of the largest run (fewest processes), scaled by N cores
    print("\nExtrapolated hours: compressed MB/s per process measured at the largest size, × N cores (perfect"
          " scaling; single-stream is also capped by its one reader, see BENCHMARKS.md):\n")
    print("| shape | measured with | MB/s per core | bnwiki 0.4 GB: 1 / 4 / 16 cores (h) | "
          "enwiki 22 GB: 1 / 4 / 16 / 64 cores (h) |")
    print("| --- | --- | ---: | --- | --- |")
    for shape in shapes:
        fitting = [r for r in results if r["shape"] == shape and r["mult"] == hi and r["label"] == "this"]
        if not fitting:
            continue
        r = min(fitting, key=lambda r: r["processes"])
        rate = r["compressed_mb"] / r["seconds"] / r["processes"]
        hours = lambda gb, n: gb * 1000 / rate / n / 3600
        print(f"| {shape} | ×{hi}, {r['processes']} process(es) | {rate:.3f} | "
              + " / ".join(f"{hours(BNWIKI_GB, n):.2f}" for n in (1, 4, 16)) + " | "
              + " / ".join(f"{hours(ENWIKI_GB, n):.1f}" for n in (1, 4, 16, 64)) + " |")
    print()
    for line in summaries:
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps([r for v in runs.values() for r in v], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
