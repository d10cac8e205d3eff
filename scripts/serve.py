"""`bilingual serve` as a script (same code, same one-line errors)."""
import sys

from bilingual.cli import run_script

if __name__ == "__main__":
    sys.exit(run_script(__file__))
