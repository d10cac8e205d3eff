import sys

from bilingual.commands.download_wiki import main

if __name__ == "__main__":
    sys.exit(main())
