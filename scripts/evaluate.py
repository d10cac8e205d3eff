import sys

from bilingual.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
