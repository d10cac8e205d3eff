"""Shared fixtures for the modeling tests: real Tatoeba pairs written as a processed dataset, and tiny
random pretrained-style checkpoints (mBART-50, mT5, Marian/OPUS-MT) built from configs with real
tokenizer files (sentencepiece models trained here, offline)."""

from __future__ import annotations

import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"


def tatoeba_pairs(n: int | None = None, seed: int = 0) -> list[dict]:
    from bilingual.modeling.data import read_tsv_pairs

    rows = read_tsv_pairs(TATOEBA)
    random.Random(seed).shuffle(rows)
    return rows[:n] if n else rows


def write_dataset(root: Path, train, validation=None, test=None) -> Path:
    from bilingual.modeling.data import write_splits

    write_splits(root, {"train": train, "validation": validation or train, "test": test or validation or train})
    return root


def train_spm(out_prefix: Path, texts, vocab_size: int, **ids) -> Path:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_prefix=str(out_prefix), vocab_size=vocab_size,
                                   character_coverage=1.0, model_type="unigram", minloglevel=2,
                                   hard_vocab_limit=False, **ids)
    return Path(f"{out_prefix}.model")


def _texts(pairs):
    return [p["bn"] for p in pairs] + [p["en"] for p in pairs]


def build_mbart50(out: Path, pairs) -> Path:
    """Tiny random mBART-50: MBart50TokenizerFast on a sentencepiece model trained here."""
    from transformers import MBart50TokenizerFast, MBartConfig, MBartForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    model_file = train_spm(out / "_spm", _texts(pairs), 600)
    tok = MBart50TokenizerFast(vocab_file=str(model_file), src_lang="en_XX", tgt_lang="bn_IN")
    cfg = MBartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=tok.eos_token_id,
                      scale_embedding=True)
    MBartForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_mt5(out: Path, pairs) -> Path:
    """Tiny random mT5: T5TokenizerFast on a sentencepiece model with T5's ids (pad 0, eos 1, unk 2)."""
    from transformers import MT5Config, MT5ForConditionalGeneration, T5TokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    model_file = train_spm(out / "_spm", _texts(pairs), 600, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    tok = T5TokenizerFast(vocab_file=str(model_file), extra_ids=0)
    cfg = MT5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1,
                    num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                    decoder_start_token_id=tok.pad_token_id, tie_word_embeddings=False)
    MT5ForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_marian_opus(out: Path, pairs) -> Path:
    """Tiny random OPUS-MT-style Marian: MarianTokenizer (source/target spm + vocab.json) whose vocabulary
    holds the >>bn<< / >>en<< target tags, as multilingual OPUS-MT models do."""
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out.mkdir(parents=True, exist_ok=True)
    model_file = train_spm(out / "_spm", _texts(pairs), 600)
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, ">>bn<<": 3, ">>en<<": 4}
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        if piece not in vocab and piece not in ("<s>", "</s>", "<unk>"):
            vocab[piece] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    for name in ("source.spm", "target.spm"):
        (out / name).write_bytes(model_file.read_bytes())
    tok = MarianTokenizer(source_spm=str(out / "source.spm"), target_spm=str(out / "target.spm"),
                          vocab=str(out / "vocab.json"), separate_vocabs=False)
    cfg = MarianConfig(vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=32, encoder_layers=1,
                       decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                       decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
                       decoder_start_token_id=0, forced_eos_token_id=1, share_encoder_decoder_embeddings=True)
    MarianMTModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


_CACHE: dict = {}


def shared_tokenizer_dir() -> Path:
    """One tokenizer trained on the Tatoeba sample (streamed from Parquet), shared by the test modules."""
    import tempfile

    if "tok" not in _CACHE:
        from bilingual.modeling.tokenizer import train_tokenizer_from_parquet

        root = Path(tempfile.mkdtemp(prefix="bilingual-tok-"))
        ds = write_dataset(root / "all", tatoeba_pairs())
        train_tokenizer_from_parquet(sorted((ds / "dataset").glob("train-*.parquet")), root / "tok", vocab_size=1000)
        _CACHE["tok"] = root / "tok"
    return _CACHE["tok"]


def tiny_config(dataset_dir, output_dir, **overrides) -> dict:
    """A small, fast flat training recipe (1 CPU thread: this machine is shared); keys are argument fields."""
    cfg = {"preset": "tiny", "tokenizer_name": str(shared_tokenizer_dir()),
           "dataset_name": str(dataset_dir), "max_tokens": 1024, "per_device_train_batch_size": 16,
           "max_eval_samples": 8,
           "output_dir": str(output_dir), "max_steps": 8, "learning_rate": 1e-3, "warmup_steps": 0,
           "lr_scheduler_type": "constant_with_warmup", "logging_steps": 2, "eval_steps": 4, "save_steps": 4,
           "save_total_limit": 2, "report_to": [], "cpu_threads": 1, "early_stopping_patience": None,
           "generation_max_length": 16}
    cfg.update(overrides)
    return cfg
