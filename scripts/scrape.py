"""Crawl configured web sources: see bilingual/commands/scrape.py."""
import sys

from bilingual.commands.scrape import main

if __name__ == "__main__":
    sys.exit(main())
