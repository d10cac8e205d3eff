"""`bilingual card` as a script: see `python scripts/card.py --help`."""
import sys

from bilingual.cli import run_script

if __name__ == "__main__":
    sys.exit(run_script(__file__))
