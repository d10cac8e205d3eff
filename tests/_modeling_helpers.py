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



def random_model(model_class, config, seed: int = 0):
    """A randomly initialised model that is the same whatever ran before (a seeded init, not the global RNG)."""
    import torch

    torch.manual_seed(seed)
    return model_class(config)

def build_mbart50(out: Path, pairs) -> Path:
    """Tiny random mBART-50: MBart50TokenizerFast on a sentencepiece model trained here."""
    from transformers import MBart50TokenizerFast, MBartConfig, MBartForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    model_file = train_spm(out / "_spm", _texts(pairs), 600)
    tok = MBart50TokenizerFast(vocab_file=str(model_file), src_lang="en_XX", tgt_lang="bn_IN")
    tok.bos_token = "<s>"   # as the Hub checkpoint's special_tokens_map.json has it (CTranslate2 reads it)
    cfg = MBartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=tok.eos_token_id,
                      scale_embedding=True,
                      # as in the facebook/mbart-large-50* configs (CTranslate2's loader reads them)
                      normalize_before=True, normalize_embedding=True, add_final_layer_norm=True,
                      tokenizer_class="MBart50Tokenizer")
    random_model(MBartForConditionalGeneration, cfg).save_pretrained(out)
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
    random_model(MT5ForConditionalGeneration, cfg).save_pretrained(out)
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
    random_model(MarianMTModel, cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_nllb(out: Path, pairs) -> Path:
    """Tiny random NLLB-200: NllbTokenizerFast (codes ben_Beng / eng_Latn) on a sentencepiece model trained
    here, M2M100 architecture (NLLB checkpoints are model_type m2m_100)."""
    from transformers import M2M100ForConditionalGeneration, NllbTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    model_file = train_spm(out / "_spm", _texts(pairs), 600)
    tok = NllbTokenizerFast(vocab_file=str(model_file), src_lang="eng_Latn", tgt_lang="ben_Beng")
    cfg = _m2m100_config(tok, tokenizer_class="NllbTokenizer")
    random_model(M2M100ForConditionalGeneration, cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_m2m100(out: Path, pairs) -> Path:
    """Tiny random M2M100: M2M100Tokenizer (codes __bn__ / __en__) from a vocab.json + sentencepiece model."""
    import sentencepiece as spm
    from transformers import M2M100ForConditionalGeneration, M2M100Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    model_file = train_spm(out / "_spm", _texts(pairs), 600)
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        if piece not in vocab:
            vocab[piece] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "sentencepiece.bpe.model").write_bytes(model_file.read_bytes())
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    # the language codes listed as special tokens, as in the Hub checkpoints (CTranslate2 reads the list)
    codes = [f"__{c}__" for c in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    tok = M2M100Tokenizer(vocab_file=str(out / "vocab.json"), spm_file=str(out / "sentencepiece.bpe.model"),
                          src_lang="en", tgt_lang="bn", additional_special_tokens=codes)
    # the language codes (and M2M100's "made-up" padding words) come after the sentencepiece vocabulary
    size = max(max(tok.lang_token_to_id.values()) + 1, len(tok.get_vocab())) + tok.num_madeup_words
    random_model(M2M100ForConditionalGeneration, _m2m100_config(tok, vocab_size=size)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _m2m100_config(tok, **extra):
    from transformers import M2M100Config

    extra.setdefault("vocab_size", len(tok))
    return M2M100Config(d_model=32, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_position_embeddings=128, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                        eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.eos_token_id,
                        forced_eos_token_id=tok.eos_token_id, scale_embedding=True, **extra)


BUILDERS = {"marian": build_marian_opus, "mbart50": build_mbart50, "t5": build_mt5, "nllb": build_nllb,
            "m2m100": build_m2m100}


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
