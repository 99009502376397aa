"""Wheel build hook: the wheel carries the data directories under ``orchestrator/_data/``.

kernel-configs/, scenarios/, rootfs/ and kernel-patches/ live at the top of the checkout
(where people edit them); a non-editable install has no checkout, so ``build_py`` copies
them into the package, where ``orchestrator.paths`` finds them. Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("kernel-configs", "scenarios", "rootfs", "kernel-patches")
HERE = Path(__file__).resolve().parent


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        target = Path(self.build_lib) / "orchestrator" / "_data"
        for name in DATA_DIRS:
            src = HERE / name
            if src.is_dir():
                shutil.copytree(src, target / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
