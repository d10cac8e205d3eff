"""`HFTransformerModel`: one way to get a seq2seq model + tokenizer, from a named preset sized to our
tokenizer or from a local pretrained checkpoint (Marian, mBART-50, mT5), always saved in the plain
`AutoModelForSeq2SeqLM` / `AutoTokenizer` layout so every later stage (evaluate, export, serve,
publish) loads it without knowing how it was built.

Language handling is not decided here: `families` knows each family's convention (target tag,
forced BOS, text prefix); `self.family` is the entry that applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bilingual.modeling import families


@dataclass(frozen=True)
class Preset:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn_dim: int
    max_position_embeddings: int = 512
    dropout: float = 0.1


# Marian-style (post-norm transformer, sinusoidal positions, shared + tied embeddings).
# `tiny` is sized for CPU tests and the default end-to-end run; `base` is Marian/OPUS-MT base.
PRESETS: dict[str, Preset] = {
    "tiny": Preset(d_model=128, encoder_layers=2, decoder_layers=2, heads=4, ffn_dim=512, max_position_embeddings=256),
    "small": Preset(d_model=256, encoder_layers=3, decoder_layers=3, heads=4, ffn_dim=1024),
    "base": Preset(d_model=512, encoder_layers=6, decoder_layers=6, heads=8, ffn_dim=2048),
}



def marian_config(preset: str | Preset, tokenizer, dropout: Optional[float] = None):
    from transformers import MarianConfig

    p = PRESETS[preset] if isinstance(preset, str) else preset
    return MarianConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=len(tokenizer),
        d_model=p.d_model, encoder_layers=p.encoder_layers, decoder_layers=p.decoder_layers,
        encoder_attention_heads=p.heads, decoder_attention_heads=p.heads,
        encoder_ffn_dim=p.ffn_dim, decoder_ffn_dim=p.ffn_dim,
        max_position_embeddings=p.max_position_embeddings,
        dropout=p.dropout if dropout is None else dropout, attention_dropout=0.0, activation_dropout=0.0,
        activation_function="swish", scale_embedding=True, share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, max_length=256, num_beams=1,
    )


class HFTransformerModel:
    """A seq2seq model and its tokenizer, plus what the pipeline needs to know about them."""

    def __init__(self, model, tokenizer, preset: Optional[str] = None, source: Optional[str] = None):
        self.model = model
        self.tokenizer = tokenizer
        self.preset = preset
        self.source = source
        self.family = families.family_for(model.config, tokenizer)
        self.family.check_tokenizer(tokenizer, source or "")
        self.style = self.family.style

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset: str, tokenizer, seed: Optional[int] = None, dropout: Optional[float] = None):
        """A freshly initialised Marian-style model sized to `tokenizer` (which must carry the tags)."""
        from transformers import MarianMTModel, set_seed

        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: expected one of {', '.join(PRESETS)}")
        marian = families.FAMILIES["marian"]
        if not all(marian.tag(tokenizer, lang) for lang in families.LANGS):
            raise ValueError("a preset model needs a tokenizer with >>bn<< / >>en<< tags (bilingual.modeling.tokenizer)")
        if seed is not None:
            set_seed(seed)
        model = MarianMTModel(marian_config(preset, tokenizer, dropout))
        model.generation_config.max_length = 256
        return cls(model, tokenizer, preset=preset, source=f"preset:{preset}")

    @classmethod
    def from_pretrained(cls, path, tokenizer_path=None):
        """A checkpoint of any registered family: a local folder, or a Hub id (`from_pretrained`; the Hub
        cache is used when offline)."""
        from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

        path = str(path)
        if Path(path).exists() and not (Path(path) / "config.json").exists():
            raise FileNotFoundError(f"{path}: no config.json (expected a seq2seq checkpoint folder)")
        try:
            config = AutoConfig.from_pretrained(path)
        except OSError as err:
            raise FileNotFoundError(f"{path}: neither a local checkpoint folder (with config.json) nor a Hub model "
                                    "id that can be reached; check the path or the id") from err
        if not config.is_encoder_decoder:
            raise ValueError(f"{path}: model_type {config.model_type!r} is not an encoder-decoder model")
        families.family_for(config)   # an unsupported family fails here, before the weights load
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or path)
        model = AutoModelForSeq2SeqLM.from_pretrained(path)
        preset = None
        meta = Path(path) / "bilingual_model.json"
        if meta.exists():
            preset = json.loads(meta.read_text()).get("preset")
        obj = cls(model, tokenizer, preset=preset, source=str(path))
        if obj.style == "forced_bos":
            # mBART-50 / NLLB decoding starts from </s> and is then forced to the target language code.
            model.config.decoder_start_token_id = model.config.decoder_start_token_id or tokenizer.eos_token_id
        return obj

    @classmethod
    def load(cls, path):
        return cls.from_pretrained(path)

    # -- facts --------------------------------------------------------------------------------------
    @property
    def model_type(self) -> str:
        return self.model.config.model_type

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Unique parameters (tied/shared embeddings counted once)."""
        seen, total = set(), 0
        for p in self.model.parameters():
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
        return total

    def describe(self) -> dict:
        c = self.model.config
        return {"model_type": self.model_type, "preset": self.preset, "parameters": self.num_parameters(),
                "vocab_size": c.vocab_size, "d_model": getattr(c, "d_model", None),
                "encoder_layers": getattr(c, "encoder_layers", getattr(c, "num_layers", None)),
                "decoder_layers": getattr(c, "decoder_layers", getattr(c, "num_decoder_layers", None)),
                "family": self.family.name, "style": self.style, "source": self.source}

    def fingerprint(self) -> dict:
        """What must match for a checkpoint of this model to be resumable."""
        return {**self.family.fingerprint(self.model.config), "parameters": self.num_parameters()}

    # -- language handling (delegated to the family) ------------------------------------------------
    def prepare_sources(self, texts, src_lang: str, tgt_lang: str) -> list[str]:
        return self.family.prepare_sources(texts, src_lang, tgt_lang, self.tokenizer)

    def generation_kwargs(self, tgt_lang: str) -> dict:
        return self.family.generate_kwargs(self.tokenizer, tgt_lang)

    def encode_pair(self, sources, targets, src_lang: str, tgt_lang: str, max_source_length: int = 128,
                    max_target_length: int = 128) -> dict:
        """Tokenized model inputs + labels for one direction, in the family's convention."""
        return self.family.encode(self.tokenizer, sources, targets, src_lang, tgt_lang, max_source_length,
                                  max_target_length)

    def translate(self, texts, src_lang: str, tgt_lang: str, num_beams: int = 1, batch_size: int = 32,
                  max_new_tokens: int = 128) -> list[str]:
        """In-memory translation (the same calls as `Translator`, without a save/load round-trip)."""
        return generate_texts(self.model, self.tokenizer, texts, src_lang, tgt_lang, num_beams=num_beams,
                              batch_size=batch_size, max_new_tokens=max_new_tokens)

    # -- persistence --------------------------------------------------------------------------------
    def save(self, output_dir) -> Path:
        """Model + tokenizer in the AutoModelForSeq2SeqLM / AutoTokenizer layout."""
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        from bilingual.storage import write_json

        write_json(out / "bilingual_model.json", {**self.describe(), "source": self.source})
        return out


def generate_texts(model, tokenizer, texts, src_lang: str, tgt_lang: str, num_beams: int = 1,
                   batch_size: int = 32, max_new_tokens: int = 128) -> list[str]:
    """Greedy/beam generation in length-sorted batches; output order matches input."""
    import torch

    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = [""] * len(texts)
    device = next(model.parameters()).device
    family = families.family_for(model.config, tokenizer)
    gen = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
               **family.generate_kwargs(tokenizer, tgt_lang))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            sources = family.prepare_sources([texts[i] for i in idx], src_lang, tgt_lang, tokenizer)
            enc = tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=256)
            with torch.inference_mode():
                ids = model.generate(input_ids=enc["input_ids"].to(device),
                                     attention_mask=enc["attention_mask"].to(device), **gen)
            for i, text in zip(idx, tokenizer.batch_decode(ids, skip_special_tokens=True)):
                out[i] = text.strip()
    finally:
        model.train(was_training)
    return out
