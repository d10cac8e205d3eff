import sys

from bilingual.commands.export_onnx import main

if __name__ == "__main__":
    sys.exit(main())
