"""download_wiki against a real HTTP server on 127.0.0.1 laid out like dumps.wikimedia.org."""

from __future__ import annotations

import bz2
import gzip
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from bilingual import storage
from bilingual.commands.download_wiki import main as download_main
from bilingual.sources.wikipedia.download import dumpstatus_for
from _wiki_helpers import BN40, SAMPLES, make_multistream, xml_bytes

WIKI, DATE = "bnwiki", "20230501"


class DumpHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with Range support; `drop` makes the first GET of a file stop mid-way."""

    drop: dict = {}
    log: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        DumpHandler.log.append((self.path, rng))
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = DumpHandler.drop.pop(path.name, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    run = root / WIKI / DATE
    run.mkdir(parents=True)
    (root / WIKI / "20230420").mkdir()  # an older run without a finished status
    dump, index = make_multistream(xml_bytes(BN40), run, name=f"{WIKI}-{DATE}")
    ll = run / f"{WIKI}-{DATE}-langlinks.sql.gz"
    shutil.copy(SAMPLES / "sql" / "simplewiki-change_tag_def.testfile.sql.gz", ll)
    status = dumpstatus_for({p.name: p for p in (dump, index, ll)}, WIKI, DATE)
    (run / "dumpstatus.json").write_text(json.dumps(status))
    handler = lambda *a, **k: DumpHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    DumpHandler.drop, DumpHandler.log = {}, []
    yield f"http://127.0.0.1:{server.server_address[1]}", run, status
    server.shutdown()
    server.server_close()


def test_download_resumes_after_dropped_connection(site, tmp_path):
    base, run, status = site
    dump_name = f"{WIKI}-{DATE}-pages-articles-multistream.xml.bz2"
    DumpHandler.drop[dump_name] = 200_000
    out = tmp_path / "out"
    rc = download_main(["--wiki", WIKI, "--date", "latest", "--output-dir", str(out), "--base-url", base, "--quiet"])
    assert rc == 0
    snap = out / "raw" / "2023-05-01" / f"wikipedia-dump-{WIKI}"
    assert (snap / dump_name).read_bytes() == (run / dump_name).read_bytes()
    ranges = [r for p, r in DumpHandler.log if p.endswith(dump_name)]
    assert ranges[0] is None and ranges[1].startswith("bytes=")  # the second request resumed mid-file
    assert 0 < int(ranges[1][6:-1]) <= 200_000 and len(ranges) == 2
    manifest = {Path(r.path).name: r for r in storage.read_manifest(snap)}
    assert len(manifest) == 3 and all(r.status == "ok" for r in manifest.values())
    assert manifest[dump_name].attempts == 2 and manifest[dump_name].sha256
    assert not list(snap.glob("*.part"))
    # a rerun verifies and skips: no new downloads
    n = len(DumpHandler.log)
    assert download_main(["--wiki", WIKI, "--date", DATE, "--output-dir", str(out), "--base-url", base, "--quiet"]) == 0
    assert [p for p, _ in DumpHandler.log[n:]] == [f"/{WIKI}/{DATE}/dumpstatus.json"]


def test_wrong_checksum_is_an_error_and_not_kept_as_complete(site, tmp_path, capsys):
    base, run, status = site
    ll = f"{WIKI}-{DATE}-langlinks.sql.gz"
    status["jobs"]["langlinkstable"]["files"][ll]["sha1"] = "0" * 40
    (run / "dumpstatus.json").write_text(json.dumps(status))
    out = tmp_path / "out"
    rc = download_main(["--wiki", WIKI, "--date", DATE, "--output-dir", str(out), "--base-url", base, "--quiet"])
    assert rc == 1
    assert "checksum mismatch" in capsys.readouterr().err
    snap = out / "raw" / "2023-05-01" / f"wikipedia-dump-{WIKI}"
    assert not (snap / ll).exists() and (snap / (ll + ".bad")).exists()
    manifest = {Path(r.path).name: r for r in storage.read_manifest(snap)}
    assert manifest[ll].status == "error" and "sha1" in manifest[ll].reason
    assert manifest[f"{WIKI}-{DATE}-pages-articles-multistream.xml.bz2"].status == "ok"


def test_missing_run_is_a_clear_error(site, tmp_path, capsys):
    base, _, _ = site
    rc = download_main(["--wiki", WIKI, "--date", "20990101", "--output-dir", str(tmp_path), "--base-url", base,
                        "--quiet"])
    assert rc == 1 and "HTTP 404" in capsys.readouterr().err
