"""`build` resumes a killed build only when nothing that decides the result changed, including the contents of
the evaluation sets (and any other file a recipe step names): an eval set edited in place, same size and mtime,
is not answered with the killed build's filter chunks."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from bilingual.testing_utils import kill_when

from _corpus_helpers import DAY, make_snapshots

REPO = Path(__file__).resolve().parents[2]


def _eval_line(row: dict, width: int = 700) -> bytes:
    line = json.dumps({"bn": row["bn"], "en": row["en"], "note": ""}, ensure_ascii=False).encode()
    return line.replace(b'"note": ""', b'"note": "' + b"x" * (width - len(line)) + b'"') + b"\n"


def _eval_rejects(out: Path) -> set[str]:
    rows = [r for f in sorted((out / "rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return {r["en"] for r in rows if r["reject_step"] == "eval_overlap"}


def test_killed_build_is_not_resumed_after_its_eval_set_was_edited(tmp_path, samples):
    make_snapshots(tmp_path, samples, n_tatoeba=1200, n_tico=600)
    pairs = pq.read_table(next((tmp_path / "raw" / DAY / "tatoeba").glob("pairs-*.parquet"))).to_pylist()
    seen = {side: Counter(r[side] for r in pairs) for side in ("bn", "en")}
    once = [r for r in pairs if seen["bn"][r["bn"]] == seen["en"][r["en"]] == 1]  # one eval_overlap reject each
    a, b = once[len(once) // 2], once[-1]
    evals = tmp_path / "eval.jsonl"
    evals.write_bytes(_eval_line(a))
    out = tmp_path / "processed" / "v1"
    cmd = [sys.executable, "-m", "bilingual", "--quiet", "build", "--snapshot", str(tmp_path / "raw"),
           "--output-dir", str(out), "--chunk-rows", "150", "--eval-set", str(evals)]
    env = dict(os.environ, PYTHONPATH=str(REPO))

    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(proc, out.parent, ".build-v1-*/.filter.work-*/work/stage-1/chunk-00003.json")  # its eval_overlap stage done

    st = evals.stat()
    evals.write_bytes(_eval_line(b))  # another pair, same size; and the same mtime
    os.utime(evals, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert evals.stat().st_size == st.st_size
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["resumed"]["reused"] == 0
    assert _eval_rejects(out) == {b["en"]}
    assert sorted(p.name for p in out.parent.iterdir()) == ["v1"]  # the killed build's work folder is gone
