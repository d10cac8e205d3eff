"""Pydantic records passed between stages.

Every stage reads and writes these three shapes, so validation lives here once:
language codes, non-empty text without control characters, tz-aware UTC times and
http(s) URLs. Rows that fail validation are never dropped silently: `validate_rows`
returns them with the error so the caller can write them to a quarantine file.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any, Iterable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

LANGS = ("bn", "en")
Lang = Literal["bn", "en"]
Status = Literal["ok", "skipped", "error"]

# C0/C1 controls except tab, newline, carriage return; plus DEL. ZWJ/ZWNJ (format, Cf) are allowed:
# Bengali needs them (e.g. র‍্যাব).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _check_text(value: str, field: str) -> str:
    if value is None or not value.strip():
        raise ValueError(f"{field} is empty")
    bad = _CONTROL_RE.search(value)
    if bad:
        raise ValueError(f"{field} contains control character U+{ord(bad.group()):04X} at offset {bad.start()}")
    return value


def _check_utc(value: Optional[datetime], field: str) -> Optional[datetime]:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(timezone.utc)


def _check_url(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"url must be http(s)://host/..., got {value!r}")
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    def to_row(self) -> dict[str, Any]:
        """A flat dict for Arrow: datetimes stay datetimes (UTC), None stays null."""
        return self.model_dump()


class Document(_Record):
    """One monolingual text (a Wikipedia article, a web page) with its provenance."""

    id: str
    lang: Lang
    text: str
    title: Optional[str] = None
    source: str
    url: Optional[str] = None
    dump: Optional[str] = None  # e.g. "bnwiki-20230501"
    page_id: Optional[int] = None
    revision_id: Optional[int] = None
    revision_time: Optional[datetime] = None
    retrieved_at: datetime = Field(default_factory=utc_now)
    license: str
    sha256: str = ""

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return _check_text(v, "text")

    @field_validator("url")
    @classmethod
    def _url(cls, v):
        return _check_url(v)

    @field_validator("revision_time", "retrieved_at")
    @classmethod
    def _utc(cls, v, info):
        return _check_utc(v, info.field_name)

    @model_validator(mode="after")
    def _provenance(self):
        if self.url is None and self.page_id is None:
            raise ValueError("a Document needs a url or a dump page_id for provenance")
        if not self.sha256:
            self.sha256 = sha256_text(self.text)
        elif self.sha256 != sha256_text(self.text):
            raise ValueError("sha256 does not match text")
        return self


class SentencePair(_Record):
    """One aligned or parallel bn–en sentence pair with its provenance."""

    id: str
    bn: str
    en: str
    source: str
    provenance: dict[str, str] = Field(default_factory=dict)  # e.g. bn_page_id, en_rev_id, bn_index, tuid
    score: Optional[float] = None  # alignment score where aligned; None for given parallel data
    license: str

    @field_validator("bn", "en")
    @classmethod
    def _text(cls, v: str, info) -> str:
        return _check_text(v, info.field_name)

    @field_validator("provenance", mode="before")
    @classmethod
    def _prov(cls, v):
        if isinstance(v, str):  # as stored in Parquet
            v = json.loads(v) if v else {}
        return {str(k): str(val) for k, val in (v or {}).items()}


class LineageRecord(_Record):
    """What happened to one input (a file, a URL): written to a snapshot's manifest.parquet."""

    source: str
    url: Optional[str] = None
    path: Optional[str] = None
    final_url: Optional[str] = None
    time: datetime = Field(default_factory=utc_now)
    status: Status
    reason: Optional[str] = None
    http_status: Optional[int] = None
    bytes: int = 0
    sha256: Optional[str] = None
    attempts: int = 1
    records: int = 0  # documents or pairs produced from this input
    robots: Optional[str] = None  # allowed / disallowed / unreachable (crawler only)
    license: Optional[str] = None

    @field_validator("url", "final_url")
    @classmethod
    def _url(cls, v):
        return _check_url(v)

    @field_validator("time")
    @classmethod
    def _utc(cls, v, info):
        return _check_utc(v, info.field_name)

    @model_validator(mode="after")
    def _where(self):
        if self.url is None and self.path is None:
            raise ValueError("a LineageRecord needs a url or a path")
        if self.status != "ok" and not self.reason:
            raise ValueError(f"status {self.status!r} needs a reason")
        return self


def pair_id(bn: str, en: str) -> str:
    """Stable id of a pair: hash of its NFC-normalized, whitespace-collapsed sides."""
    return sha256_text(normalize_key(bn) + "\t" + normalize_key(en))[:16]


def normalize_key(text: str) -> str:
    """The form used for ids, dedup keys and split hashing (not for training text)."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def validation_message(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in err.errors())


def validate_rows(model: type[_Record], rows: Iterable[dict[str, Any]]):
    """Split raw dicts into (valid records, quarantined rows). A quarantined row keeps its
    original fields (as strings) plus `error`, so nothing is lost."""
    good: list[_Record] = []
    bad: list[dict[str, Any]] = []
    for row in rows:
        try:
            good.append(model.model_validate(row))
        except ValidationError as err:
            bad.append(quarantine_row(row, validation_message(err)))
    return good, bad


def quarantine_row(row: dict[str, Any], error: str) -> dict[str, Any]:
    return {"record": repr({k: row[k] for k in sorted(row)}), "error": error, "time": utc_now()}
