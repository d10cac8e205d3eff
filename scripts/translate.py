"""`bilingual translate` as a script (same code, same one-line errors)."""
import sys

from bilingual.cli import main

if __name__ == "__main__":
    sys.exit(main(["translate", *sys.argv[1:]]))
