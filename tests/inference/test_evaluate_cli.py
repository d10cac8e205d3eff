"""`bilingual evaluate`: both directions, beam search, sacreBLEU scores + signatures, hypotheses and JSON report,
on line files, a TSV and a saved dataset folder; PyTorch and ONNX backends; clear errors on bad input."""

import json
import shutil

import pytest

from _model_helpers import tiny_model, train_pairs  # noqa: F401  (fixtures)
from bilingual.commands import evaluate as evaluate_cmd
from bilingual.evaluation import EvaluationDataError, evaluate_model, load_pairs, score


@pytest.fixture(scope="module")
def pairs(train_pairs):
    return train_pairs[:24]


def test_line_files_both_directions_with_report(tiny_model, pairs, tmp_path):
    (tmp_path / "t.bn").write_text("".join(p["bn"] + "\n" for p in pairs), encoding="utf-8")
    (tmp_path / "t.en").write_text("".join(p["en"] + "\n" for p in pairs), encoding="utf-8")
    out = tmp_path / "eval"
    rc = evaluate_cmd.main([str(tiny_model), "--bn", str(tmp_path / "t.bn"), "--en", str(tmp_path / "t.en"),
                            "--num-beams", "3", "--batch-size", "8", "--output-dir", str(out), "--quiet"])
    assert rc == 0
    report = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert set(report) == {"bn-en", "en-bn"}
    for direction, tgt in (("bn-en", "en"), ("en-bn", "bn")):
        r = report[direction]
        assert r["n"] == 24 and r["backend"] == "pytorch" and r["num_beams"] == 3
        assert set(r["signatures"]) == {"bleu", "chrf", "chrf++"}
        assert r["signatures"]["chrf++"].startswith("nrefs:1") and "nw:2" in r["signatures"]["chrf++"]
        hyps = (out / f"hyp.{direction}.{tgt}").read_text(encoding="utf-8").splitlines()
        assert len(hyps) == 24 and len(set(hyps)) > 5
        assert r["chrf"] > 25  # trained on these pairs: far above chance
    assert "tok:intl" in report["en-bn"]["signatures"]["bleu"] and "tok:13a" in report["bn-en"]["signatures"]["bleu"]
    assert report["en-bn"]["primary"] == "chrf"


def test_scores_follow_quality():
    refs = ["আমি ভালো আছি।", "টম মারা গেছে।"]
    assert score(refs, refs, "bn")["chrf"] == 100.0
    assert score(["বাহ।", "আসুন।"], refs, "bn")["chrf"] < 30
    # intl tokenization separates the danda, so one wrong word does not zero the sentence's BLEU.
    assert score(["আমি ভালো আছো।"], ["আমি ভালো আছি।"], "bn")["bleu"] > 0


def test_dataset_split_and_tsv_and_onnx_backend(tiny_model, pairs, tmp_path):
    import datasets

    from bilingual.inference.export import export_onnx

    folder = tmp_path / "ds"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(pairs[:4]),
                          "test": datasets.Dataset.from_list(pairs[4:16])}).save_to_disk(tmp_path / "arrow")
    for split in ("train", "test"):
        (folder / "data").mkdir(parents=True, exist_ok=True)
        datasets.load_from_disk(tmp_path / "arrow")[split].to_parquet(folder / "data" / f"{split}-00000.parquet")
    loaded = load_pairs(dataset=folder, split="test")
    assert loaded == [{"bn": p["bn"], "en": p["en"]} for p in pairs[4:16]]
    tsv = tmp_path / "t.tsv"
    tsv.write_text("".join(f"{p['en']}\t{p['bn']}\tattr\n" for p in pairs[4:16]), encoding="utf-8")
    assert load_pairs(tsv=tsv) == loaded

    onnx_dir = tmp_path / "model-onnx"
    export_onnx(tiny_model, output_dir=onnx_dir, sample_texts=pairs[:5])
    ds = datasets.load_dataset(str(folder))["test"]
    pt = evaluate_model(tiny_model, ds, backend="pytorch", num_beams=1)
    ort = evaluate_model(onnx_dir, ds, backend="onnx", num_beams=1, output_dir=tmp_path / "out")
    assert ort["en-bn"]["backend"] == "onnx" and ort["bn-en"]["n"] == 12
    assert abs(ort["en-bn"]["chrf"] - pt["en-bn"]["chrf"]) < 1.0
    assert (tmp_path / "out" / "hyp.bn-en.en").read_text(encoding="utf-8").count("\n") == 12


def test_bad_inputs_give_one_line_errors(tiny_model, tmp_path, capsys):
    (tmp_path / "a.bn").write_text("এক\nদুই\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("one\n", encoding="utf-8")
    assert evaluate_cmd.main([str(tiny_model), "--bn", str(tmp_path / "a.bn"), "--en", str(tmp_path / "a.en"),
                              "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "differ in length" in err and "a.bn" in err and "Traceback" not in err

    assert evaluate_cmd.main([str(tiny_model), "--dataset", str(tmp_path / "nope"), "--quiet"]) == 2
    assert "no such dataset folder" in capsys.readouterr().err

    (tmp_path / "ok.tsv").write_text("one\tএক\n", encoding="utf-8")
    assert evaluate_cmd.main([str(tmp_path), "--tsv", str(tmp_path / "ok.tsv"), "--quiet"]) == 2
    assert "no tokenizer" in capsys.readouterr().err

    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy, ignore=shutil.ignore_patterns("onnx*", "ctranslate2*", "eval"))
    assert evaluate_cmd.main([str(copy), "--backend", "ctranslate2", "--limit", "2", "--quiet"]) == 2
    assert "run `bilingual export --ctranslate2" in capsys.readouterr().err
    with pytest.raises(EvaluationDataError, match="no such file"):
        load_pairs(bn=tmp_path / "missing.bn", en=tmp_path / "a.en")


def _bad_inputs(tmp_path):
    def write(name, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    one_col = write("one.tsv", "Go.\tযাও।\nHello\n".encode())
    latin1 = write("latin1.tsv", "Go.\tyes\ncaf\xe9\tno\n".encode("latin-1"))
    empty = write("empty.tsv", b"")
    binary = write("bin.tsv", bytes(range(256)) * 8)
    good = write("good.tsv", "Go.\tযাও।\n".encode())
    return [
        ("one column", ["--tsv", one_col], [str(one_col), "line 2"]),
        ("invalid UTF-8", ["--tsv", latin1], [str(latin1), "UTF-8"]),
        ("empty file", ["--tsv", empty], [str(empty), "empty"]),
        ("binary file", ["--tsv", binary], [str(binary)]),
        ("missing file", ["--tsv", tmp_path / "nope.tsv"], ["nope.tsv", "no such file"]),
        ("limit -1", ["--tsv", good, "--limit", "-1"], ["--limit -1", "positive"]),
        ("limit 0", ["--tsv", good, "--limit", "0"], ["--limit 0", "positive"]),
        ("beams 0", ["--tsv", good, "--num-beams", "0"], ["--num-beams 0"]),
        ("only --bn", ["--bn", good], ["--bn and --en"]),
    ]


def test_bad_inputs_are_one_line_errors_naming_the_file(tiny_model, tmp_path, capsys):
    """Table-driven: each bad input is a non-zero exit with one line naming the file (and line) and no
    evaluation written (before: a one-column TSV was scored against empty references, --limit -1 meant
    "all but the last")."""
    from bilingual import cli

    for what, args, needles in _bad_inputs(tmp_path):
        out_dir = tmp_path / f"eval-{what.replace(' ', '-')}"
        rc = cli.main(["evaluate", str(tiny_model), *map(str, args), "--output-dir", str(out_dir), "--quiet"])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc != 0, what
        assert len(lines) == 1 and "Traceback" not in err, (what, err[-1000:])
        assert all(n in lines[0] for n in needles), (what, lines[0])
        assert not (out_dir / "evaluation.json").exists(), what


def test_a_text_longer_than_the_models_positions_is_truncated_not_a_crash(tiny_model, tmp_path):
    """A 140 KiB field is a (strange) pair like any other: the source is cut to the model's positions
    (128 for the tiny model) instead of indexing past them (before: IndexError)."""
    from bilingual.inference.translator import Translator

    huge = "x " * (70 * 1024)
    for backend in ("pytorch", "onnx"):
        out = Translator(tiny_model, backend).translate([huge, "Go."], "en", "bn", max_new_tokens=8)
        assert len(out) == 2 and all(isinstance(o, str) for o in out)
    (tmp_path / "huge.tsv").write_text(f"Go.\t{huge}\n", encoding="utf-8")
    rc = evaluate_cmd.main([str(tiny_model), "--tsv", str(tmp_path / "huge.tsv"), "--num-beams", "1",
                            "--max-new-tokens", "8", "--output-dir", str(tmp_path / "eval"), "--quiet"])
    assert rc == 0 and (tmp_path / "eval" / "evaluation.json").is_file()
