"""`filter --executor ray` on a real two-node Ray cluster on 127.0.0.1 (a head and a worker, 1 CPU and a
small object store each): kept ids, rejects with reasons and the funnel equal the local executor's
on the bundled pairs with the default recipe."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray", reason="the [ray] extra (the test extra includes it)")

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "recipes" / "filters" / "default.yaml"
STORE = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])  # workers import this tree
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": STORE, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    c.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address="127.0.0.1")
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _outputs(folder: Path):
    kept = [i for f in sorted(folder.glob("kept-*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]
    rejects = []
    for f in sorted((folder / "rejects").glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "reject_step", "reject_reason"])
        rejects += list(zip(*(t.column(c).to_pylist() for c in t.column_names)))
    stats = json.loads((folder / "stats.json").read_text())
    return kept, rejects, [{k: v for k, v in r.items() if k != "seconds"} for r in stats["steps"]], stats


def test_ray_executor_equals_local(cluster, samples, tmp_path):
    par = samples / "parallel"
    inputs = [str(par / "tatoeba-ben-eng.tsv"), str(par / "tico19-all.en-bn.tmx")]
    base = [sys.executable, "-m", "bilingual.commands.filter", "--recipe", str(DEFAULT), "--input", *inputs,
            "--quiet", "--chunk-rows", "3000"]
    # Ray rewrites a 127.0.0.1 address to the machine's outward IP unless told this is a one-machine cluster
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    local = subprocess.run(base + ["--output-dir", str(tmp_path / "local")], env=env, cwd=REPO,
                           capture_output=True, text=True)
    assert local.returncode == 0, local.stderr[-3000:]
    remote = subprocess.run(base + ["--output-dir", str(tmp_path / "ray"), "--executor", "ray",
                                    "--ray-address", cluster.address], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert remote.returncode == 0, remote.stderr[-3000:]
    kept_l, rej_l, funnel_l, stats_l = _outputs(tmp_path / "local")
    kept_r, rej_r, funnel_r, stats_r = _outputs(tmp_path / "ray")
    assert stats_r["executor"] == "ray" and stats_r["ray_nodes"] == 2
    assert kept_r == kept_l and rej_r == rej_l and funnel_r == funnel_l
    reasons = {r for _, _, r in rej_r}
    assert {"duplicate_pair", "near_duplicate"} & reasons  # the shuffled dedup paths did decide something
    assert not list(tmp_path.glob(".ray.*"))  # the work folder is gone


def test_dead_ray_address_is_one_line_naming_it(tmp_path):
    """`ray.init` on an address where nothing listens retries for minutes; we refuse at once, in one line."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "bilingual", "filter", "--recipe", str(DEFAULT), "--input",
                           str(REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"), "--output-dir",
                           str(tmp_path / "out"), "--executor", "ray", "--ray-address", address],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert address in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_stage_rows_for_a_fit_are_memory_mapped_and_made_on_use(tmp_path):
    """A driver-side `fit` gets the stage's rows in row order without `_row`, from one Arrow file written
    stage file by stage file (not all rows in the driver's memory), and only if the fit reads them."""
    import pyarrow as pa

    from bilingual.filters.executor_ray import ROW, ParquetStage

    for k, rows in enumerate([range(0, 3), range(3, 5)]):
        pq.write_table(pa.table({"id": [f"p{r}" for r in rows], "bn": ["আমি"] * len(rows),
                                 ROW: pa.array(list(rows), pa.int64())}), tmp_path / f"part-{k}.parquet")
    stage = ParquetStage(sorted(tmp_path.glob("*.parquet")), tmp_path / "work")
    ds = stage.dataset()
    assert not (tmp_path / "work").exists()  # nothing written until the fit looks at the rows
    assert len(ds) == 5 and ds["id"] == ["p0", "p1", "p2", "p3", "p4"] and ROW not in ds.column_names
    assert ds.cache_files and ds.cache_files[0]["filename"].endswith("fit-rows.arrow")  # memory-mapped, not in RAM
