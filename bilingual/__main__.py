"""python -m bilingual: the same as the `bilingual` console command."""
import sys

from bilingual.cli import main

sys.exit(main())
