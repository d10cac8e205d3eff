import sys

from bilingual.commands.align import main

if __name__ == "__main__":
    sys.exit(main())
