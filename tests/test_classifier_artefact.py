"""Loading trusts nothing: sha256 first, then versions, and only then joblib.load."""

import json
import logging
import shutil
from pathlib import Path

import joblib
import pytest
import sklearn

from classifier import artefact, training
from pipeline.errors import ModelError

FIXTURE = Path(__file__).parent / "fixtures" / "classifier" / "tickets.csv"


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    training.train_from_paths([str(FIXTURE)], out)
    return out


@pytest.fixture
def model_copy(trained_dir, tmp_path):
    return Path(shutil.copytree(trained_dir, tmp_path / "copy"))


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("joblib.load called on an unverified artefact")

    monkeypatch.setattr(artefact.joblib, "load", refuse)


def edit_manifest(model_dir: Path, change) -> None:
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_tampered_artefact_is_refused_before_unpickling(model_copy, no_unpickling):
    with open(model_copy / "model.joblib", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(ModelError, match="does not match the manifest"):
        artefact.load_model(model_copy)


def test_replaced_artefact_is_refused(model_copy, no_unpickling):
    (model_copy / "model.joblib").write_bytes(b"cos\nsystem\n(S'echo owned'\ntR.")
    with pytest.raises(ModelError, match="refusing to load"):
        artefact.load_model(model_copy)


def _other_release(version: str, part: int) -> str:
    """The version with its major (0), minor (1) or patch (2) number moved on by one."""
    numbers = [int(n) for n in version.split(".")[:3]]
    numbers[part] += 1
    return ".".join(map(str, numbers))


@pytest.mark.parametrize("part", [0, 1])
def test_another_scikit_learn_series_is_refused(model_copy, no_unpickling, part):
    value = _other_release(sklearn.__version__, part)
    edit_manifest(model_copy, lambda m: m["versions"].__setitem__("scikit-learn", value))
    with pytest.raises(ModelError, match=rf"built with scikit-learn {value}"):
        artefact.load_model(model_copy)


@pytest.mark.parametrize("library, value", [
    ("scikit-learn", _other_release(sklearn.__version__, 2)), ("numpy", "1.26.4"),
    ("scipy", "1.11.0"), ("python", "3.11.0")])
def test_a_patch_release_or_another_library_warns_once_and_loads(model_copy, caplog,
                                                                 library, value):
    edit_manifest(model_copy, lambda m: m["versions"].__setitem__(library, value))
    with caplog.at_level(logging.WARNING, logger="triaje.classifier"):
        first = artefact.load_model(model_copy)
        artefact.load_model(model_copy)
    warned = [r for r in caplog.records if f"built with {library} {value}" in r.getMessage()]
    assert len(warned) == 1
    assert first.predict(["VPN caída"], ["no conecta"])[0]["type"].label


def test_label_set_mismatch_is_refused(model_copy):
    edit_manifest(model_copy, lambda m: m["heads"]["type"].__setitem__("labels", ["a", "b"]))
    with pytest.raises(ModelError, match="labels of head 'type'"):
        artefact.load_model(model_copy)


def _rewrite_payload(model_dir: Path, change) -> None:
    """Change the unpickled payload and write it back with a matching sha256, as a model
    built by another version of triaje would be."""
    path = model_dir / "model.joblib"
    payload = joblib.load(path)
    change(payload)
    joblib.dump(payload, path)
    digest = artefact.file_sha256(path)
    edit_manifest(model_dir, lambda m: m["artefact"].__setitem__("sha256", digest))


def test_the_second_model_is_part_of_the_checked_artefact(model_copy):
    manifest = json.loads((model_copy / "manifest.json").read_text())
    assert "ComplementNB" in manifest["second_estimator"]
    payload = joblib.load(model_copy / "model.joblib")
    assert set(payload["second"]) == set(manifest["heads"])
    _rewrite_payload(model_copy, lambda p: p["second"].__setitem__("type", p["second"]["queue"]))
    with pytest.raises(ModelError, match="second model of head 'type'"):
        artefact.load_model(model_copy)


def test_an_artefact_without_a_second_model_still_loads_and_never_disputes(model_copy):
    _rewrite_payload(model_copy, lambda p: p.pop("second"))
    model = artefact.load_model(model_copy)
    for row in model.predict(["VPN caída", "Gracias"], ["no conecta", "todo perfecto"]):
        assert all(p.reason != "disagreement" for p in row.values())


def test_missing_or_broken_manifest(model_copy, tmp_path):
    with pytest.raises(ModelError, match=r"no manifest\.json"):
        artefact.load_model(tmp_path)
    (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable manifest"):
        artefact.load_model(model_copy)


def test_install_copies_marks_current_and_loads(trained_dir, tmp_path):
    models = tmp_path / "models"
    assert artefact.current_version(models) is None
    with pytest.raises(ModelError, match=r"triaje train.*triaje demo"):
        artefact.load_current(models)
    version = artefact.install(trained_dir, models)
    manifest = json.loads((trained_dir / "manifest.json").read_text())
    assert version == manifest["version"]
    assert (models / "CURRENT").read_text().strip() == version
    assert artefact.current_version(models) == version
    assert artefact.versions(models) == [version]
    assert artefact.load_current(models).version == version
    assert artefact.install(trained_dir, models) == version  # idempotent
    assert [p.name for p in models.iterdir() if p.name.startswith(".")] == []


def test_install_refuses_a_tampered_model(model_copy, tmp_path):
    with open(model_copy / "model.joblib", "ab") as f:
        f.write(b"x")
    with pytest.raises(ModelError, match="does not match"):
        artefact.install(model_copy, tmp_path / "models")
    assert artefact.current_version(tmp_path / "models") is None


def test_current_must_name_a_version_folder(tmp_path):
    (tmp_path / "CURRENT").write_text("../../etc\n")
    with pytest.raises(ModelError, match="does not name a model version"):
        artefact.current_version(tmp_path)
