"""Training on the bilingual fixture: manifest contents and the prediction API."""

import dataclasses
import hashlib
import json
import platform
from pathlib import Path

import numpy
import pandas as pd
import pytest
import sklearn

from classifier import artefact, training
from classifier.predictor import Prediction, predict_proba, transform_fields
from pipeline.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "classifier" / "tickets.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    manifest = training.train_from_paths([str(FIXTURE)], out, target_precision=0.8)
    return out, manifest


def test_manifest_describes_heads_data_versions_and_artefact(trained):
    out, manifest = trained
    frame = pd.read_csv(FIXTURE)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert list(manifest["heads"]) == ["type", "priority", "queue"]
    for head, info in manifest["heads"].items():
        assert info["labels"] == sorted(frame[head].unique())
        assert info["rows"] == len(frame)
        assert info["threshold"] is None or 0.0 < info["threshold"] <= 1.0
        metrics = info["metrics"]
        assert set(metrics) == {"macro_f1", "accuracy", "coverage", "precision_at_threshold",
                                "per_class", "confusion"}
        assert sum(c["support"] for c in metrics["per_class"].values()) == len(frame)
        if info["threshold"] is not None:
            assert metrics["precision_at_threshold"] >= 0.8
    data = manifest["data"]
    assert data["rows"] == len(frame)
    assert data["files"][0]["sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert data["languages"] == {"es": 40, "en": 40}
    digest = hashlib.sha256((out / "model.joblib").read_bytes()).hexdigest()
    assert manifest["artefact"]["sha256"] == digest
    assert manifest["version"].endswith("-" + digest[:6])
    assert manifest["versions"]["scikit-learn"] == sklearn.__version__
    assert manifest["versions"]["numpy"] == numpy.__version__
    assert manifest["versions"]["python"] == platform.python_version()
    assert manifest["target_precision"] == 0.8
    assert manifest["created"].endswith("Z")


def test_model_fits_its_data_and_generalises_on_type(trained):
    out, manifest = trained
    type_info = manifest["heads"]["type"]
    assert type_info["metrics"]["macro_f1"] > 1.5 / len(type_info["labels"])  # out of fold
    frame = pd.read_csv(FIXTURE)
    predictions = artefact.load_model(out).predict(list(frame.subject), list(frame.body))
    for head in manifest["heads"]:
        fitted = sum(p[head].label == y for p, y in zip(predictions, frame[head], strict=True))
        assert fitted / len(frame) > 0.9, head


def test_predict_returns_frozen_predictions_per_head(trained):
    out, manifest = trained
    model = artefact.load_model(out)
    assert model.version == manifest["version"]
    assert model.heads == ("type", "priority", "queue")
    result = model.predict(["Gracias por arreglar el portátil", "VPN down"],
                           ["Todo funciona perfecto, muchas gracias", ""])
    assert len(result) == 2
    for row in result:
        assert set(row) == set(model.heads)
        for head, p in row.items():
            assert isinstance(p, Prediction)
            assert p.label in manifest["heads"][head]["labels"]
            assert 0.0 <= p.confidence <= 1.0
            threshold = manifest["heads"][head]["threshold"]
            assert p.needs_review == (threshold is None or p.confidence < threshold)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result[0]["type"].label = "other"
    assert model.predict([], []) == []


def test_batch_and_single_predictions_agree(trained):
    model = artefact.load_model(trained[0])
    frame = pd.read_csv(FIXTURE).head(12)
    batch = model.predict(list(frame.subject), list(frame.body))
    singles = [model.predict([s], [b])[0] for s, b in zip(frame.subject, frame.body, strict=True)]
    for one, other in zip(batch, singles, strict=True):
        for head, p in one.items():
            assert (p.label, p.needs_review) == (other[head].label, other[head].needs_review)
            assert p.confidence == pytest.approx(other[head].confidence, abs=1e-9)


def test_fast_prediction_path_equals_the_pipeline(trained):
    model = artefact.load_model(trained[0])
    frame = pd.read_csv(FIXTURE).sample(20, random_state=1)
    frame.iloc[0, 0] = ""  # a message without subject
    fields = {"subject": list(frame.subject), "body": list(frame.body)}
    for pipeline in model._pipelines.values():
        X = transform_fields(pipeline[0], fields)
        expected = pipeline[0].transform(frame[["subject", "body"]])
        assert abs(X - expected).max() < 1e-12
        fast = predict_proba(pipeline[-1], X)
        assert fast == pytest.approx(pipeline.predict_proba(frame[["subject", "body"]]), abs=1e-9)


def test_rare_labels_are_left_out_and_single_label_heads_skipped(tmp_path):
    frame = pd.read_csv(FIXTURE)
    frame.loc[:2, "queue"] = "facilities"  # 3 rows: too few to cross-validate
    frame["priority"] = "low"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    manifest = training.train_from_paths([str(path)], tmp_path / "m")
    assert manifest["heads"]["queue"]["dropped_labels"] == {"facilities": 3}
    assert "facilities" not in manifest["heads"]["queue"]["labels"]
    assert "priority" in manifest["skipped_heads"]
    assert list(manifest["heads"]) == ["type", "queue"]


def test_no_trainable_head_is_a_data_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("subject,body,type\n" + "a,b,incident\n" * 10)
    with pytest.raises(DataError, match="no head could be trained"):
        training.train_from_paths([str(path)], tmp_path / "m")
