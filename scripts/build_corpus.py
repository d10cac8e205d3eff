import sys

from bilingual.commands.build_corpus import main

sys.exit(main())
