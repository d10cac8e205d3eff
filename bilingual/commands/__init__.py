"""Command implementations: each module has `main(argv=None) -> int`; scripts/ and the `bilingual` CLI call them."""
