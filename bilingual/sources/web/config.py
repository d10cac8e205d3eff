"""Web source recipes (`recipes/sources/*.yaml`), validated before anything is fetched.

One YAML file describes one site: what to fetch (start/sitemap URLs, allowed domains, link
rules), what to keep (content selector or trafilatura main text) and how politely (delay,
concurrency, user agent, limits). Unknown keys are errors, so a typo never silently turns a
politeness setting off. `load_source` names the file and the field in every error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bilingual.schema import Lang

DEFAULT_USER_AGENT = "bilingual-corpus-bot/0.1 (+https://github.com/bilingual/bilingual; research corpus collection)"


class SourceConfigError(ValueError):
    """A recipe that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_regexes(values: list[str]) -> list[str]:
    for pattern in values:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"bad regular expression {pattern!r}: {err}") from err
    return values


def _check_css(values: list[str]) -> list[str]:
    from cssselect import GenericTranslator, SelectorError

    for sel in values:
        try:
            GenericTranslator().css_to_xpath(sel)
        except SelectorError as err:
            raise ValueError(f"bad CSS selector {sel!r}: {err}") from err
    return values


class LinkRules(_Strict):
    """Which links found on a page are followed."""

    allow: list[str] = Field(default_factory=list, description="URL regexes; when given a link must match one")
    deny: list[str] = Field(default_factory=list, description="URL regexes; a link matching any is dropped")
    selectors: list[str] = Field(default_factory=list,
                                 description="CSS selectors; when given only links in/at these elements count")

    @field_validator("allow", "deny")
    @classmethod
    def _re(cls, v):
        return _check_regexes(v)

    @field_validator("selectors")
    @classmethod
    def _css(cls, v):
        return _check_css(v)


class DocumentRules(_Strict):
    """Which fetched pages become Documents, and how their text is taken."""

    url_patterns: list[str] = Field(default_factory=list,
                                    description="URL regexes of article pages; empty = every HTML page")
    content_selector: Optional[str] = Field(None, description="CSS selector of the article body; "
                                                              "unset = trafilatura main-text extraction")
    min_chars: int = Field(100, ge=1, description="shorter texts are not kept as Documents")

    @field_validator("url_patterns")
    @classmethod
    def _re(cls, v):
        return _check_regexes(v)

    @field_validator("content_selector")
    @classmethod
    def _sel(cls, v):
        if v is not None:
            _check_css([v])
        return v


class SourceConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="snapshot folder name")
    language: Lang
    license: str = Field(min_length=1, validation_alias=AliasChoices("license", "licence"))
    start_urls: list[str] = Field(default_factory=list)
    sitemap_urls: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list,
                                       description="host names (subdomains included); empty = hosts of the start/sitemap URLs")
    links: LinkRules = Field(default_factory=LinkRules)
    documents: DocumentRules = Field(default_factory=DocumentRules)
    max_pages: int = Field(100, ge=1, description="page fetches at most (robots-skipped URLs do not count)")
    max_depth: int = Field(2, ge=0, description="link hops from a start/sitemap URL")
    frontier_memory: int = Field(10_000, ge=1, description="URLs waiting to be fetched held in memory per host; "
                                                           "the rest wait in order in a scratch file")
    delay: float = Field(1.0, ge=0, description="seconds between requests to one host (robots Crawl-delay wins if larger)")
    rate: Optional[float] = Field(None, gt=0, description="requests per second per host; delay becomes max(delay, 1/rate)")
    concurrency: int = Field(4, ge=1, le=64, description="hosts fetched at the same time (one request at a time per host)")
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1)
    timeout: float = Field(20.0, gt=0, description="seconds for connect, each read, and the whole response")
    max_bytes: int = Field(5_000_000, ge=1024, description="response bodies are cut (and the page skipped) beyond this")
    max_redirects: int = Field(5, ge=0)
    max_attempts: int = Field(4, ge=1, le=20, description="tries per request (retries on timeouts, 429, 5xx)")
    backoff: float = Field(1.0, ge=0, description="first retry wait in seconds; doubles per try, plus jitter")
    backoff_max: float = Field(60.0, ge=0)
    max_retry_after: float = Field(300.0, ge=0, description="a longer Retry-After gives up on the URL instead of waiting")

    @field_validator("start_urls", "sitemap_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"only http(s) URLs with a host are allowed, got {url!r}")
        return v

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        out = []
        for d in v:
            d = d.strip().lower().lstrip(".")
            if not d or "/" in d or ":" in d:
                raise ValueError(f"a domain is a bare host name like 'example.com', got {d!r}")
            out.append(d)
        return out

    @model_validator(mode="after")
    def _complete(self):
        if not self.start_urls and not self.sitemap_urls:
            raise ValueError("give start_urls and/or sitemap_urls")
        if not self.allowed_domains:
            self.allowed_domains = sorted({urlsplit(u).hostname.lower() for u in self.start_urls + self.sitemap_urls})
        if self.rate:
            self.delay = max(self.delay, 1.0 / self.rate)
        return self


def load_source(path: str | Path) -> SourceConfig:
    """Read and validate one recipe; errors read `<file>: <field>: <problem>`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise SourceConfigError(f"{path}: no such file") from err
    except yaml.YAMLError as err:
        raise SourceConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(data, dict):
        raise SourceConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return SourceConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors())
        raise SourceConfigError(f"{path}: {problems}") from None
