import sys

from bilingual.commands.collect_wiki import main

if __name__ == "__main__":
    sys.exit(main())
