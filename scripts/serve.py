import sys

from bilingual.commands.serve import main

if __name__ == "__main__":
    sys.exit(main())
