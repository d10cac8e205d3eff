import sys

from bilingual.commands.translate import main

if __name__ == "__main__":
    sys.exit(main())
