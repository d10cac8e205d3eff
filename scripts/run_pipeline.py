"""The whole job on the bundled samples: see `python scripts/run_pipeline.py --help` (`bilingual run` as a script)."""
import sys

from bilingual.cli import run_script

if __name__ == "__main__":
    sys.exit(run_script(__file__))
