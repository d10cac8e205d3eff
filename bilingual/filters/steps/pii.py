"""The `pii` step: e-mail addresses, phone numbers and personal URLs become placeholders.

Counted per kind in the step's stats (`counts`). Rows are kept; only the spans are replaced.
Phone numbers are matched in ASCII and Bengali digits; a number must look like a phone
(a + prefix or 9–15 digits with separators), so years and prices are left alone.
"""

from __future__ import annotations

import re

from typing import Literal

from pydantic import model_validator

from bilingual.filters.base import PositiveInt, StepParams, register

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_D = r"[0-9\u09e6-\u09ef]"
PHONE = re.compile(rf"(?<![\w\u09e6-\u09ef])(?:\+{_D}{{1,3}}[\s.-]?)?(?:\(?{_D}{{2,5}}\)?[\s.-]?){{1,4}}{_D}{{3,5}}(?![\w\u09e6-\u09ef])")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# URL paths that point at a person: profiles, user pages, ~home dirs, mailto-like query strings.
PERSONAL = re.compile(r"(/~|/users?/|/profile|/people/|/member|facebook\.com/|twitter\.com/|x\.com/|instagram\.com/"
                      r"|linkedin\.com/in/|[?&](?:email|user|uid|id)=)", re.IGNORECASE)


def _digits(s: str) -> int:
    return sum(ch.isdigit() for ch in s)


class PiiParams(StepParams):
    emails: bool = True
    phones: bool = True
    urls: Literal["personal", "all", "none"] = "personal"  # "personal" (profile-like paths), "all", or "none"
    email_placeholder: str = "<EMAIL>"
    phone_placeholder: str = "<PHONE>"
    url_placeholder: str = "<URL>"
    min_phone_digits: PositiveInt = 9
    max_phone_digits: PositiveInt = 15

    @model_validator(mode="after")
    def _digits_in_order(self):
        if self.min_phone_digits > self.max_phone_digits:
            raise ValueError(f"min_phone_digits {self.min_phone_digits} > max_phone_digits {self.max_phone_digits}")
        return self


def scrub(text: str, p: PiiParams, counts: dict) -> str:
    if p.emails and "@" in text:
        text, n = EMAIL.subn(p.email_placeholder, text)
        counts["email"] = counts.get("email", 0) + n
    if p.urls != "none" and ("://" in text or "www." in text.lower()):
        def url(m):
            if p.urls == "all" or PERSONAL.search(m.group()):
                counts["url"] = counts.get("url", 0) + 1
                return p.url_placeholder
            return m.group()
        text = URL.sub(url, text)
    if p.phones:
        def phone(m):
            d = _digits(m.group())
            if p.min_phone_digits <= d <= p.max_phone_digits and (m.group().lstrip().startswith("+") or d >= 10
                                                                  or re.search(r"[\s.-]", m.group())):
                counts["phone"] = counts.get("phone", 0) + 1
                return p.phone_placeholder
            return m.group()
        text = PHONE.sub(phone, text)
    return text


@register("pii", PiiParams, outputs={"pii_count": "int32"})
def pii_step(batch, p: PiiParams, ctx):
    """Replace e-mails, phone numbers, personal URLs with placeholders; counts in stats."""
    counts: dict = {}
    out = {}
    per_row = [0] * len(batch["bn"])
    for side in ("bn", "en"):
        new = []
        for i, t in enumerate(batch[side]):
            before = sum(counts.values())
            new.append(scrub(t, p, counts))
            per_row[i] += sum(counts.values()) - before
        out[side] = new
    out["pii_count"] = per_row
    out["_counts"] = counts
    return out
