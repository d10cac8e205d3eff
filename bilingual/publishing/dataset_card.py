"""The dataset card (README.md with YAML metadata) generated from the corpus stats.

Uses huggingface_hub's `DatasetCard`/`DatasetCardData` and the Jinja template
`model_cards/dataset_card.md.j2`. The YAML `configs:` block tells `load_dataset(<folder or repo>)`
which files make up which split, so rejects and artifacts beside them are never loaded as data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from bilingual.layout import (CARD_FILE, DATA_DIR, DATASET_CARD_TEMPLATE, DEFAULT_DATASET_CONFIG, DOCUMENTS_DIR,
                              EVAL_OVERLAP_STEP, REJECTS_DIR, REJECTS_GLOB, SPLITS, public_name, split_glob)
from bilingual.storage import write_text

TEMPLATE = DATASET_CARD_TEMPLATE

_LICENSES = [  # (pattern on our free-text licence, Hub licence id)
    (r"cc0|public domain", "cc0-1.0"),
    (r"by[- ]?sa.*4", "cc-by-sa-4.0"), (r"by[- ]?sa.*3", "cc-by-sa-3.0"), (r"by[- ]?sa", "cc-by-sa-4.0"),
    (r"by[- ]?nc", "cc-by-nc-4.0"), (r"cc[- ]?by.*2\.0", "cc-by-2.0"), (r"cc[- ]?by.*4", "cc-by-4.0"),
    (r"cc[- ]?by.*3", "cc-by-3.0"), (r"apache", "apache-2.0"), (r"\bmit\b", "mit"),
]


def hub_license(text: Optional[str]) -> str:
    """Our licence strings ("CC-BY 2.0 FR", "CC0 1.0", "CC BY-SA 4.0") as Hub licence ids."""
    t = (text or "").lower()
    for pattern, lic in _LICENSES:
        if re.search(pattern, t):
            return lic
    return "other"


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return label
    return "100M<n<1B"


def card_configs(output_dir: Path, stats: dict) -> list[dict]:
    configs = [{"config_name": DEFAULT_DATASET_CONFIG, "default": True,
                "data_files": [{"split": s, "path": f"{DATA_DIR}/{split_glob(s)}"} for s in SPLITS
                               if list((output_dir / DATA_DIR).glob(split_glob(s)))]}]
    for lang in sorted(stats.get("documents") or {}):
        configs.append({"config_name": f"documents_{lang}",
                        "data_files": [{"split": "train", "path": f"{DOCUMENTS_DIR}/{lang}/{split_glob('train')}"}]})
    if list((output_dir / REJECTS_DIR).glob(REJECTS_GLOB)):
        configs.append({"config_name": "rejects",
                        "data_files": [{"split": "train", "path": f"{REJECTS_DIR}/{REJECTS_GLOB}"}]})
    return configs


def dataset_info_yaml(output_dir: Path) -> list[dict]:
    """`dataset_info` for the default config: features, per-split example counts and file bytes.

    Besides documenting the data, this matters for `load_dataset(<local folder>)`: with README
    `configs:` datasets 4 keys its cache on the configs and this info only (not on file times or
    the folder's absolute path), so without it a rebuilt folder of the same name can load stale data."""
    import pyarrow.parquet as pq
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo

    splits, features, total = SplitDict(), None, 0
    for s in SPLITS:
        files = sorted((output_dir / DATA_DIR).glob(split_glob(s)))
        if not files:
            continue
        n = sum(pq.read_metadata(f).num_rows for f in files)
        size = sum(f.stat().st_size for f in files)
        features = features or Features.from_arrow_schema(pq.read_schema(files[0]))
        splits.add(SplitInfo(name=s, num_bytes=size, num_examples=n))
        total += size
    if features is None:
        return []
    info = DatasetInfo(features=features, splits=splits, download_size=total, dataset_size=total)
    return [dict(config_name="default", **info._to_yaml_dict())]


def make_dataset_card(output_dir: Path, stats: dict, pretty_name: str = "bilingual: Bangla–English parallel corpus"):
    from huggingface_hub import DatasetCard, DatasetCardData

    output_dir = Path(output_dir)
    sources = stats.get("sources") or []
    licenses = sorted({hub_license(s.get("license")) for s in sources}) or ["other"]
    data = DatasetCardData(
        language=["bn", "en"], license=licenses if len(licenses) > 1 else licenses[0],
        multilinguality=["translation"], task_categories=["translation"], task_ids=[],
        size_categories=[size_category(int(stats.get("kept", 0)))], pretty_name=pretty_name,
        source_datasets=[s["source"] for s in sources], configs=card_configs(output_dir, stats),
        dataset_info=dataset_info_yaml(output_dir),
    )
    funnel = [dict(r, share=(r["kept"] / stats["in"] if stats.get("in") else 0.0)) for r in stats.get("steps", [])]
    overlap = sum(int(r.get("dropped") or 0) for r in stats.get("steps", []) if r.get("step") == EVAL_OVERLAP_STEP)
    eval_sets = [", ".join(public_name(part) for part in str(spec).split(",")) for spec in stats.get("eval_sets") or []]
    return DatasetCard.from_template(data, template_path=str(TEMPLATE), stats=stats, funnel=funnel, sources=sources,
                                     eval_sets=eval_sets, eval_overlap=overlap,
                                     pretty_name=pretty_name, licenses_by_source={s["source"]: s.get("license") for s in sources})


def write_dataset_card(output_dir: Path, stats: dict, **kw) -> Path:
    card = make_dataset_card(Path(output_dir), stats, **kw)
    return write_text(Path(output_dir) / CARD_FILE, str(card))
