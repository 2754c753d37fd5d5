"""Files shipped with the package: templates and the seed training data.

Installed, they are the packages `pipeline.templates` and `pipeline.training_data` (mapped
from the top-level folders in pyproject.toml). Run from a source checkout
(`python -m pipeline.cli` in the repository) those packages do not exist, so the top-level
folders beside `pipeline/` are used instead of failing on every message.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
_FOLDERS = {"pipeline.templates": "templates", "pipeline.training_data": "training_data"}


@lru_cache(maxsize=4)
def bundled(package: str) -> Traversable:
    try:
        return files(package)
    except ModuleNotFoundError:
        if not (_CHECKOUT / "pyproject.toml").is_file():  # a broken install, not a checkout
            raise
        return _CHECKOUT / _FOLDERS[package]


def bundled_path(package: str) -> Path:
    return Path(str(bundled(package)))
