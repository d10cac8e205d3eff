import sys

from bilingual.commands.migrate import main

sys.exit(main())
