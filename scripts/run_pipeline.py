"""The whole job on the bundled samples: see `python scripts/run_pipeline.py --help`."""
import sys

from bilingual.commands.run_pipeline import main

if __name__ == "__main__":
    sys.exit(main())
