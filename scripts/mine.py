import sys

from bilingual.commands.mine import main

if __name__ == "__main__":
    sys.exit(main())
