import sys

from bilingual.commands.card import main

if __name__ == "__main__":
    sys.exit(main())
