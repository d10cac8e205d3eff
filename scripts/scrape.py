"""Crawl configured web sources: see bilingual/commands/scrape.py (`bilingual scrape` as a script)."""
import sys

from bilingual.cli import run_script

if __name__ == "__main__":
    sys.exit(run_script(__file__))
