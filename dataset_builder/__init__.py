"""The `bilingual` datasets builder (run it directly; datasets >= 4 does not run loading scripts)."""

from .bilingual import Bilingual, BilingualConfig

__all__ = ["Bilingual", "BilingualConfig"]
