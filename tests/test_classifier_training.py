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

from classifier import artefact, dataset, evaluation, model, training
from classifier.foldfeatures import FoldFeatures
from classifier.predictor import Prediction, decision_scores, predict_proba, transform_fields
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
            low = threshold is None or p.confidence < threshold
            assert p.needs_review == (low or p.reason == "disagreement")
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


model_module = model


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
        scores = decision_scores(pipeline[-1], X)
        assert scores == pytest.approx(pipeline.decision_function(frame[["subject", "body"]]),
                                       abs=1e-9)
    assert set(model._second) == set(model.heads)
    for second in model._second.values():  # the second opinion's fast path too
        X = transform_fields(second[0], fields)
        assert abs(X - second[0].transform(frame[["subject", "body"]])).max() < 1e-12
        assert list(model_module.second_labels(second[-1], X)) == list(
            second.predict(frame[["subject", "body"]]))


def test_rare_labels_are_learned_and_named_and_single_label_heads_skipped(tmp_path):
    frame = pd.read_csv(FIXTURE)
    facilities = ("Aire acondicionado roto en la sala de reuniones",
                  "Se ha roto el aire acondicionado de la planta 2 y hace mucho calor",
                  "Broken air conditioning in meeting room B, it is very hot")
    frame.loc[:2, ["subject", "body", "queue"]] = [(s, s, "facilities") for s in facilities]
    frame["priority"] = "low"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    manifest = training.train_from_paths([str(path)], tmp_path / "m")
    queue = manifest["heads"]["queue"]
    assert queue["rare_labels"] == {"facilities": 3}
    assert "facilities" in queue["labels"]
    assert queue["metrics"]["per_class"]["facilities"]["support"] == 3  # its rows count
    assert "priority" in manifest["skipped_heads"]
    assert list(manifest["heads"]) == ["type", "queue"]
    model = artefact.load_model(tmp_path / "m")
    guess = model.predict(["Aire acondicionado roto"], ["el aire acondicionado no enfría"])
    assert guess[0]["queue"].label == "facilities"
    report = evaluation.evaluate(model, dataset.load([str(path)]))
    assert report["heads"]["queue"]["rare_labels"] == {"facilities": 3}
    assert report["heads"]["queue"]["per_class"]["facilities"]["support"] == 3


def test_every_fold_is_scored_by_features_fitted_on_the_other_folds(monkeypatch):
    calls = []
    real = FoldFeatures.tfidf

    def spied(self, fit_rows, rows):
        calls.append((id(self), frozenset(fit_rows), frozenset(rows)))
        return real(self, fit_rows, rows)

    monkeypatch.setattr(FoldFeatures, "tfidf", spied)
    frame = pd.read_csv(FIXTURE)
    training.train_frame(frame, ("type",))
    steps = {step for step, _, _ in calls}
    assert len(steps) == 2  # the SVM's features and the second model's
    for step in steps:
        scored = [(fit, rows) for s, fit, rows in calls if s == step and fit != rows]
        assert len(scored) == model.CV_FOLDS
        for fit, rows in scored:
            assert not fit & rows  # the fold's TF-IDF never saw the rows it scores
        assert frozenset().union(*(rows for _, rows in scored)) == frozenset(range(len(frame)))


def test_data_in_three_or_more_files_is_folded_by_whole_file(monkeypatch, tmp_path):
    calls = []
    real = FoldFeatures.tfidf

    def spied(self, fit_rows, rows):
        calls.append((frozenset(fit_rows), frozenset(rows)))
        return real(self, fit_rows, rows)

    monkeypatch.setattr(FoldFeatures, "tfidf", spied)
    frame = pd.read_csv(FIXTURE).sample(frac=1.0, random_state=3)
    paths = []
    for n, part in enumerate((frame.iloc[:30], frame.iloc[30:55], frame.iloc[55:])):
        paths.append(tmp_path / f"part{n}.csv")
        part.to_csv(paths[-1], index=False)
    manifest = training.train_from_paths([str(p) for p in paths], tmp_path / "m")
    assert manifest["cv_grouping"] == "source file"
    files = [set(range(0, 30)), set(range(30, 55)), set(range(55, len(frame)))]
    scored = [rows for fit, rows in calls if fit != rows]
    assert len(scored) == 2 * model.CV_FOLDS  # the SVM's features and the second model's
    for rows in scored:
        assert set(rows) in files  # each fold is one whole file, scored by the others
    one_file = training.train_from_paths([str(FIXTURE)], tmp_path / "one")
    assert one_file["cv_grouping"] == "stratified"


def test_label_is_the_svm_decision_and_confidence_its_tempered_softmax(trained):
    frame = pd.read_csv(FIXTURE)
    model_ = artefact.load_model(trained[0])
    for head, pipeline in model_._pipelines.items():
        classifier = pipeline[-1]
        assert classifier.temperature == pytest.approx(
            trained[1]["heads"][head]["temperature"], abs=1e-6)
        X = pipeline[0].transform(frame[["subject", "body"]])
        svm_choice = classifier.classes_[classifier.svm_.decision_function(X).argmax(axis=1)]
        assert list(pipeline.predict(frame[["subject", "body"]])) == list(svm_choice)


def test_unfamiliar_mail_goes_to_a_person_with_the_reason(trained):
    out, manifest = trained
    cut = manifest["familiarity"]["min_word_coverage"]
    assert 0.0 < cut < 1.0
    model_ = artefact.load_model(out)
    strange = model_.predict(["Qorblat vintex"],
                             ["Frobnicate zanthor quibble moxely vrask plomintar gleebish"])[0]
    for p in strange.values():
        assert (p.needs_review, p.reason) == (True, "unfamiliar")
    usual = model_.predict(["No funciona la impresora"],
                           ["La impresora de la planta 2 no imprime, da error de papel"])[0]
    for head, p in usual.items():
        threshold = manifest["heads"][head]["threshold"]
        expected = None if not p.needs_review else (
            "no_threshold" if threshold is None else "low_confidence")
        if threshold is not None and p.confidence >= threshold and p.needs_review:
            expected = "disagreement"
        assert p.reason == expected


def test_a_confident_prediction_the_second_model_disputes_goes_to_a_person(trained):
    out, manifest = trained
    model_ = artefact.load_model(out)
    frame = pd.read_csv(FIXTURE)
    texts = [*frame.body, "gracias", "no va", "urgente por favor", "thanks, please check",
             "el correo y la impresora", "password printer laptop", "VPN gracias ayuda"]
    for head in model_.heads:
        model_.thresholds[head] = 0.0  # every prediction confident: only the models decide
    predictions = model_.predict([""] * len(texts), texts)
    disputed = 0
    for head, second in model_._second.items():
        opinion = second.predict(pd.DataFrame({"subject": [""] * len(texts), "body": texts}))
        for p, other in zip((row[head] for row in predictions), opinion, strict=True):
            if p.reason == "unfamiliar":
                continue
            assert (p.needs_review, p.reason) == ((True, "disagreement") if other != p.label
                                                  else (False, None))
            disputed += other != p.label
    assert disputed > 0  # the check above was exercised on real disagreements
    for info in manifest["heads"].values():
        second = info["second_opinion"]
        assert 0.0 < second["agreement"] <= 1.0
        assert second["not_reviewed"] <= min(second["agreement"], info["metrics"]["coverage"])


def test_no_trainable_head_is_a_data_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("subject,body,type\n" + "a,b,incident\n" * 10)
    with pytest.raises(DataError, match="no head could be trained"):
        training.train_from_paths([str(path)], tmp_path / "m")


def test_mail_far_from_every_class_of_a_head_is_unfamiliar_for_that_head(trained):
    out, manifest = trained
    assert all(isinstance(i["min_top_score"], float) for i in manifest["heads"].values())
    model_ = artefact.load_model(out)
    subject, body = "No funciona la impresora", "La impresora de la planta 2 no imprime"
    model_.manifest["heads"]["type"]["min_top_score"] = 1e9  # no score reaches it
    result = model_.predict([subject], [body])[0]
    assert (result["type"].needs_review, result["type"].reason) == (True, "unfamiliar")
    assert result["queue"].reason != "unfamiliar"
