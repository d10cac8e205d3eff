import sys

from bilingual.commands.filter import main

sys.exit(main())
