import sys

from bilingual.commands.train import main

sys.exit(main())
