"""Packaging lives in setup.cfg; this file only ships the recipes and card templates inside the package.

They live at the repository root (users edit `recipes/`), so a wheel copies them to `bilingual/_data/`, where
`bilingual.layout` finds them when the package is installed without the repository (`pip install .`).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("recipes", "model_cards")


class BuildWithBundledData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for name in BUNDLED:
            target = Path(self.build_lib) / "bilingual" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithBundledData})
