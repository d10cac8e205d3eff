"""Speed and memory of the Wikipedia dump reader on the bundled bnwiki samples.

Compares, in one run, each configuration in a fresh subprocess:
  baseline   plain mwxml + mwparserfromhell.strip_code, one process (main-namespace, non-redirect pages)
  ours-1     bilingual.sources.wikipedia.dump.iter_documents, processes=1
  ours-2     the same, processes=2 (one reader, a pool of parsers)
  ours-ms-2  a multistream re-pack of the same sample + index, processes=2 (stream-offset split)
Reports pages/s, articles/s, compressed MB/s, the speed-up against the baseline, and peak RSS
(main process and largest worker) for ours-2 on the 40-article and 722-page samples.

    flock /tmp/bench.lock /tmp/venv0/bin/python benchmarks/bench_wiki.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIKI = ROOT / "data" / "samples" / "wiki"
BN722 = WIKI / "bnwiki-202305-first722pages-pages-articles.xml.bz2"
BN40 = WIKI / "bnwiki-202305-first40articles-pages-articles.xml.bz2"

CHILD = r"""
import json, resource, sys, time
mode, path, index = sys.argv[1], sys.argv[2], (sys.argv[3] or None)
t = time.perf_counter()
pages = articles = 0
if mode == "baseline":
    import bz2, mwxml, mwparserfromhell
    for page in mwxml.Dump.from_file(bz2.open(path)):
        pages += 1
        rev = None
        for rev in page:
            pass
        if page.namespace == 0 and page.redirect is None:
            articles += 1
            mwparserfromhell.parse(rev.text or "").strip_code()
else:
    from bilingual.sources.wikipedia.dump import DumpStats, iter_documents
    stats = DumpStats()
    for doc in iter_documents(path, index=index, processes=int(mode), stats=stats):
        pass
    pages, articles = stats.pages, stats.documents
secs = time.perf_counter() - t
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
print(json.dumps({"seconds": secs, "pages": pages, "articles": articles, "rss_main_mb": hwm(),
                  "rss_child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run(mode: str, path: Path, index: Path | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), BILINGUAL_QUIET="1")
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(index or "")], env=env, check=True,
                         capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    mb = path.stat().st_size / 1e6
    r.update(pages_per_s=r["pages"] / r["seconds"], articles_per_s=r["articles"] / r["seconds"],
             compressed_mb_per_s=mb / r["seconds"])
    return r


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bilingual.testing_utils import make_multistream
    load = open("/proc/loadavg").read().split()[:3]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ms, idx = make_multistream(BN722, Path(tmp), pages_per_stream=100)
        results["baseline"] = run("baseline", BN722)
        results["ours-1"] = run("1", BN722)
        results["ours-2"] = run("2", BN722)
        results["ours-ms-2"] = run("2", ms, idx)
        results["rss-40-ours-2"] = run("2", BN40)
    base = results["baseline"]["pages_per_s"]
    print(f"load average before: {' '.join(load)}; after: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("| run | pages/s | articles/s | compressed MB/s | × baseline | peak RSS main / worker (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        label = name if not name.startswith("rss") else "ours-2 (40-article sample)"
        print(f"| {label} | {r['pages_per_s']:.1f} | {r['articles_per_s']:.1f} | {r['compressed_mb_per_s']:.3f} | "
              f"{r['pages_per_s'] / base:.2f} | {r['rss_main_mb']:.0f} / {r['rss_child_mb']:.0f} |")
    r722, r40 = results["ours-2"], results["rss-40-ours-2"]
    peak722 = max(r722["rss_main_mb"], r722["rss_child_mb"])
    peak40 = max(r40["rss_main_mb"], r40["rss_child_mb"])
    print(f"\npeak RSS ours-2: 722-page {peak722:.0f} MB vs 40-article {peak40:.0f} MB "
          f"(ratio {peak722 / peak40:.2f}; target < 500 MB and ≤ 1.20)")
    print(json.dumps(results, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
