"""Model artefacts: a joblib file plus the JSON manifest that says whether to trust it.

A joblib file is a pickle and can run code when loaded, so the manifest is read and the
file's sha256 checked against it before `joblib.load` is ever called; scikit-learn's
major.minor version must match too, because it does not promise that a pickle works in
another release series (a patch release only warns). A models directory keeps one
subfolder per version and a `CURRENT` file naming the one in use; installing writes the
folder first and switches `CURRENT` last, atomically, so a running daemon never sees half
a model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import joblib
import numpy
import scipy
import sklearn

from classifier.dataset import Dataset
from classifier.familiarity import MIN_WORDS, QUANTILE
from classifier.model import CV_FOLDS
from classifier.modelsdir import (  # noqa: F401 - re-exported: callers use artefact.*
    CURRENT_FILE,
    MANIFEST_FILE,
    VERSION_NAME,
    current_version,
    versions,
)
from classifier.predictor import TriageModel
from classifier.trained import TrainedModel
from pipeline import __version__ as triaje_version
from pipeline.errors import ModelError

log = logging.getLogger("triaje.classifier")

FORMAT = 1
MODEL_FILE = "model.joblib"
ESTIMATOR = ("ColumnTransformer(subject + body: word 1-2 + char_wb 2-5 TF-IDF) -> "
             "LinearSVC(C=0.5, class_weight=balanced), softmax of its scores at a temperature "
             "fitted on out-of-fold scores (cv=3, TF-IDF refitted per fold)")
SECOND_ESTIMATOR = ("ColumnTransformer(subject + body: word 1 TF-IDF, min_df=2) -> "
                    "ComplementNB; a confident prediction it disagrees with is reviewed "
                    "(reason disagreement)")


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": numpy.__version__, "scipy": scipy.__version__,
            "joblib": joblib.__version__, "marisa-trie": package_version("marisa-trie"),
            "triaje": triaje_version}


def save(out_dir, trained: TrainedModel, data: Dataset, target_precision: float) -> dict:
    """Write model.joblib and manifest.json into out_dir; returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / MODEL_FILE, lambda f: joblib.dump(
        {"format": FORMAT, "heads": trained.pipelines, "second": trained.second}, f))
    digest = file_sha256(out / MODEL_FILE)
    created = datetime.now(UTC).replace(microsecond=0)
    manifest = {
        "format": FORMAT,
        "version": f"{created:%Y%m%dT%H%M%SZ}-{digest[:6]}",
        "created": created.isoformat().replace("+00:00", "Z"),
        "artefact": {"file": MODEL_FILE, "sha256": digest,
                     "bytes": (out / MODEL_FILE).stat().st_size},
        "heads": trained.heads,
        "skipped_heads": trained.skipped,
        "familiarity": {"min_word_coverage": trained.min_word_coverage,
                        "quantile": QUANTILE, "min_words": MIN_WORDS},
        "target_precision": target_precision,
        "cv_folds": CV_FOLDS,
        "cv_grouping": "source file" if trained.folds == "grouped" else "stratified",
        "estimator": ESTIMATOR,
        "second_estimator": SECOND_ESTIMATOR if trained.second else None,
        "data": _data_summary(data),
        "versions": library_versions(),
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    _atomic_write(out / MANIFEST_FILE, lambda f: f.write(text.encode("utf-8")))
    return manifest


def _data_summary(data: Dataset) -> dict:
    frame = data.frame
    languages = frame["language"].value_counts() if "language" in frame else None
    return {
        "sha256": data.sha256,
        "rows": len(frame),
        "rows_per_head": {h: int(data.labelled(h).sum()) for h in data.heads},
        "languages": {str(k or "unknown"): int(v) for k, v in languages.items()}
        if languages is not None else {},
        "files": [{"path": s.path, "sha256": s.sha256, "rows": s.rows} for s in data.sources],
    }


def read_manifest(model_dir) -> dict:
    path = Path(model_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{model_dir}: no {MANIFEST_FILE}; not a trained model directory "
                         "(train one with `triaje train --data PATH --out DIR`)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc})") from exc
    for key in ("format", "version", "artefact", "heads", "versions"):
        if key not in manifest:
            raise ModelError(f"{path}: manifest has no {key!r}; retrain the model")
    if manifest["format"] != FORMAT:
        raise ModelError(f"{path}: manifest format {manifest['format']} is not {FORMAT}; "
                         "retrain the model with this version of triaje")
    return manifest


def verify(model_dir, manifest: dict) -> Path:
    """The artefact's path, once its sha256 matches the manifest; never unpickles."""
    path = Path(model_dir) / manifest["artefact"].get("file", MODEL_FILE)
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    actual = file_sha256(path)
    if actual != manifest["artefact"].get("sha256"):
        raise ModelError(f"{path}: sha256 {actual[:12]}... does not match the manifest "
                         f"({str(manifest['artefact'].get('sha256'))[:12]}...); the file was "
                         "changed or corrupted: refusing to load it")
    return path


def check_versions(manifest: dict, model_dir) -> None:
    """Refuse only what breaks: another scikit-learn major.minor (its pickles are not
    portable across minor releases). A patch release of scikit-learn, or another numpy,
    scipy, joblib or Python, is warned about once per model and library, then loaded."""
    built, here = manifest["versions"], library_versions()
    want = str(built.get("scikit-learn", "?"))
    if _release(want, 2) != _release(here["scikit-learn"], 2):
        raise ModelError(f"{model_dir}: model built with scikit-learn {want}, this is "
                         f"{here['scikit-learn']}; retrain it here (`triaje train`) or install "
                         f"scikit-learn {'.'.join(_release(want, 2))}.*")
    for name in ("scikit-learn", "numpy", "scipy", "joblib", "python"):
        want = str(built.get(name, "?"))
        if want != here[name] and (str(model_dir), name, want) not in _warned:
            _warned.add((str(model_dir), name, want))
            log.warning("%s: model built with %s %s, this is %s; loading it anyway "
                        "(retrain with `triaje train` if predictions look wrong)",
                        model_dir, name, want, here[name])


_warned: set[tuple[str, str, str]] = set()


def _release(version: str, parts: int) -> list[str]:
    return version.split(".")[:parts]


def load_model(model_dir) -> TriageModel:
    manifest = read_manifest(model_dir)
    path = verify(model_dir, manifest)
    check_versions(manifest, model_dir)
    try:
        payload = joblib.load(path)
    except Exception as exc:  # a verified file should load; say so plainly if not
        raise ModelError(f"{path}: could not be loaded ({exc})") from exc
    pipelines = payload.get("heads", {}) if isinstance(payload, dict) else {}
    second = payload.get("second", {}) if isinstance(payload, dict) else {}
    _check_heads(manifest, pipelines, model_dir)
    _check_second(manifest, second, model_dir)
    limits = {h: info.get("threshold") for h, info in manifest["heads"].items()}
    cut = manifest.get("familiarity", {}).get("min_word_coverage")
    return TriageModel(manifest["version"], pipelines, limits, manifest, cut, second)


def _check_heads(manifest: dict, pipelines: dict, model_dir) -> None:
    if set(pipelines) != set(manifest["heads"]):
        raise ModelError(f"{model_dir}: artefact heads {sorted(pipelines)} differ from the "
                         f"manifest's {sorted(manifest['heads'])}")
    for head, pipeline in pipelines.items():
        labels = [str(c) for c in pipeline[-1].classes_]
        if labels != list(manifest["heads"][head].get("labels", [])):
            raise ModelError(f"{model_dir}: labels of head {head!r} differ from the manifest")


def _check_second(manifest: dict, second: dict, model_dir) -> None:
    """A second model may be missing (older artefacts) but never disagree on the labels."""
    for head, pipeline in second.items():
        if head not in manifest["heads"] or [str(c) for c in pipeline[-1].classes_] != list(
                manifest["heads"][head].get("labels", [])):
            raise ModelError(f"{model_dir}: the second model of head {head!r} does not match "
                             "the manifest's labels; retrain the model")


def load_current(models_dir) -> TriageModel:
    version = current_version(models_dir)
    if version is None:
        raise ModelError(
            f"no current model in {models_dir}/: train one with `triaje train --data PATH "
            "--out DIR` and install it with `triaje model install DIR`, or run `triaje demo`")
    return load_model(Path(models_dir) / version)


def install(trained_dir, models_dir) -> str:
    """Copy a trained model into models_dir/<version>/ and mark it current."""
    manifest = read_manifest(trained_dir)
    verify(trained_dir, manifest)
    version = manifest["version"]
    if not VERSION_NAME.match(version):
        raise ModelError(f"{trained_dir}: manifest version {version!r} is not a folder name")
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / version
    if target.exists():
        verify(target, read_manifest(target))
    else:
        _copy_model(Path(trained_dir), target, manifest)
    _atomic_write(root / CURRENT_FILE, lambda f: f.write(f"{version}\n".encode()))
    return version


def _copy_model(source: Path, target: Path, manifest: dict) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        for name in (manifest["artefact"].get("file", MODEL_FILE), MANIFEST_FILE):
            shutil.copy2(source / name, staging / name)
        verify(staging, manifest)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Write beside the target, then rename over it: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
