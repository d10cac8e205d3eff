"""One shared bn+en subword vocabulary (SentencePiece-style Unigram, trained with `tokenizers`).

Why these choices:
- NFC is the only normalization: NFKC or lower-casing would fold or drop characters Bangla needs
  (ZWJ/ZWNJ, nukta, hasanta/virama) and make the model's output differ from the reference text.
- Metaspace pre-tokenization keeps whitespace recoverable, so decoding gives back the text.
- Every character seen in training is forced into the vocabulary (the Unigram trainer's initial
  alphabet), so no seen character becomes `<unk>`.
- The target-language tags from `families` are special tokens: never split, removed when decoding.
- `model_input_names` excludes token_type_ids: Marian's `generate` rejects them.
- Reproducible: the Unigram trainer sums scores in parallel, so two runs differ in the last bits of the
  scores and hence in the order of near-tied pieces; scores are rounded and pieces put in a canonical order
  (score, then text), so the same data always gives the same ids.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from bilingual.modeling.families import LANGS, TARGET_TAGS

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, EOS, UNK] + [TARGET_TAGS[lang] for lang in LANGS]
MODEL_INPUT_NAMES = ["input_ids", "attention_mask"]


class _AlphabetCounter:
    """Passes texts through while recording every character (for full character coverage)."""

    def __init__(self, texts: Iterable[str]):
        self.texts = texts
        self.chars: Counter = Counter()
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            if not text:
                continue
            text = unicodedata.normalize("NFC", text)
            self.chars.update(text)
            self.count += 1
            yield text


def _alphabet(texts: Iterable[str]) -> tuple[list[str], int]:
    counter = _AlphabetCounter(texts)
    for _ in counter:
        pass
    return sorted(c for c in counter.chars if not c.isspace()), counter.count


def train_tokenizer(texts: Iterable[str] | Sequence[str], output_dir=None, vocab_size: int = 8000,
                    max_piece_length: int = 16, alphabet_texts: Optional[Iterable[str]] = None):
    """Train the shared tokenizer on `texts` (any iterable of strings, read once per pass) and return a
    `PreTrainedTokenizerFast`; saved with `save_pretrained` when `output_dir` is given.

    `texts` is read twice (alphabet pass, then training) when it is re-iterable (a list or a callable
    returning a fresh iterator); a one-shot iterator is materialised once.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if callable(texts):
        make_iter = texts
    else:
        if not isinstance(texts, (list, tuple)):
            texts = list(texts)
        make_iter = lambda: iter(texts)  # noqa: E731
    alphabet, n = _alphabet(alphabet_texts if alphabet_texts is not None else make_iter())
    if n == 0:
        raise ValueError("no text to train the tokenizer on (all inputs were empty)")
    min_size = len(SPECIAL_TOKENS) + len(alphabet) + 1
    if vocab_size < min_size:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the {len(alphabet)} distinct characters "
                         f"+ {len(SPECIAL_TOKENS)} special tokens in the corpus: use at least {min_size}")

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=UNK,
                                      initial_alphabet=alphabet, max_piece_length=max_piece_length,
                                      show_progress=False)
    tok.train_from_iterator((unicodedata.normalize("NFC", t) for t in make_iter() if t), trainer=trainer)
    tok = _canonical_order(tok)
    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}",
                                                       special_tokens=[(EOS, eos_id)])
    fast = wrap(tok)
    if output_dir is not None:
        fast.save_pretrained(str(output_dir))
    return fast


def _canonical_order(tok, digits: int = 8):
    """The trained Unigram model with scores rounded to `digits` places and the non-special pieces sorted
    by (score descending, piece): the same pieces always get the same ids, whatever the thread timing."""
    import json

    from tokenizers import Tokenizer

    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    n_special = len(SPECIAL_TOKENS)
    assert [p for p, _ in vocab[:n_special]] == SPECIAL_TOKENS, "special tokens come first"
    rest = sorted(((p, round(score, digits)) for p, score in vocab[n_special:]), key=lambda e: (-e[1], e[0]))
    # characters the trainer only added for coverage come last, their scores stepped by 1e-4 in the (random)
    # order of its hash set: from the first such step on, give those scores to the characters in sorted order
    start = next((i for i in range(len(rest) - 1) if len(rest[i][0]) == 1 and len(rest[i + 1][0]) == 1
                  and abs(rest[i][1] - rest[i + 1][1] - 1e-4) < 1e-6), len(rest))
    tail = [i for i in range(start, len(rest)) if len(rest[i][0]) == 1]
    for i, piece, score in zip(tail, sorted(rest[i][0] for i in tail), sorted((rest[i][1] for i in tail), reverse=True)):
        rest[i] = (piece, score)
    rest = sorted(([p, score] for p, score in rest), key=lambda e: (-e[1], e[0]))
    state["model"]["vocab"] = vocab[:n_special] + rest
    return Tokenizer.from_str(json.dumps(state, ensure_ascii=False))


def wrap(tok):
    """A `tokenizers.Tokenizer` as a transformers tokenizer with our special tokens declared."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
        additional_special_tokens=[TARGET_TAGS[lang] for lang in LANGS],
        model_input_names=list(MODEL_INPUT_NAMES), padding_side="right", truncation_side="right",
        clean_up_tokenization_spaces=False, model_max_length=1024,
    )


def parquet_texts(files: Sequence, columns: Sequence[str] = LANGS, batch_size: int = 10_000):
    """A re-iterable stream of the bn and en texts of Parquet shards (flat memory)."""
    from bilingual.storage import iter_rows

    files = [Path(f) for f in files]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"Parquet file(s) not found: {', '.join(missing)}")

    def gen() -> Iterator[str]:
        for row in iter_rows(files, columns=list(columns), batch_size=batch_size):
            for col in columns:
                if row.get(col):
                    yield row[col]

    return gen


def train_tokenizer_from_parquet(files: Sequence, output_dir=None, vocab_size: int = 8000,
                                 columns: Sequence[str] = LANGS):
    """Stream the text columns of Parquet shards into `train_tokenizer` (never loads the corpus whole)."""
    if not files:
        raise ValueError("no Parquet files given to train the tokenizer on")
    return train_tokenizer(parquet_texts(files, columns), output_dir, vocab_size=vocab_size)


def dataset_parquet_files(dataset_dir, split: str = "train") -> list[Path]:
    """The Parquet shards of one split of a processed dataset directory (`DIR/dataset/` or `DIR`)."""
    root = Path(dataset_dir)
    if (root / "dataset").is_dir():
        root = root / "dataset"
    from bilingual.modeling.data import split_files

    files = split_files(root, split)
    if not files:
        raise FileNotFoundError(f"{root}: no Parquet files for split {split!r}")
    return files
