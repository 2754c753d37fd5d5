"""The models directory's layout: one folder per version and a `CURRENT` file.

Kept apart from `artefact` (which imports scikit-learn, numpy and scipy, about 170 MB of
memory) so that a daemon without a model, and the once-a-minute check for a newly promoted
one, can read `CURRENT` without loading the machine-learning stack.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.errors import ModelError

MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def current_version(models_dir) -> str | None:
    path = Path(models_dir) / CURRENT_FILE
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from exc
    if not VERSION_NAME.match(name):
        raise ModelError(f"{path}: does not name a model version ({name[:60]!r})")
    return name


def versions(models_dir) -> list[str]:
    """Installed versions: folders named after the version their manifest records. A model
    merely trained into the folder (`train --out models/candidate`) is not one."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _manifest_version(p) == p.name)


def _manifest_version(folder: Path) -> str | None:
    manifest = manifest_json(folder)
    return manifest.get("version") if manifest else None


def manifest_json(folder) -> dict | None:
    """A model's manifest as plain JSON, unchecked (the light read: no scikit-learn); None
    when it is missing or unreadable. Loading a model checks it in full (artefact)."""
    try:
        found = json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
