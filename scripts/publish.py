import sys

from bilingual.commands.publish import main

if __name__ == "__main__":
    sys.exit(main())
