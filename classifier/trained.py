"""A trained model before it is saved: the fitted pipelines and what training learnt."""

from __future__ import annotations

from dataclasses import dataclass, field

from sklearn.pipeline import Pipeline

from classifier.predictor import TriageModel


@dataclass
class TrainedModel:
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    heads: dict[str, dict] = field(default_factory=dict)  # labels, threshold, rows, metrics
    skipped: dict[str, str] = field(default_factory=dict)  # head -> why it was not trained
    min_word_coverage: float | None = None  # below it a mail is unfamiliar (familiarity.py)
    second: dict[str, Pipeline] = field(default_factory=dict)  # head -> second opinion
    folds: str = "stratified"  # or "grouped": whole source files per fold

    def predictor(self, version: str = "unsaved") -> TriageModel:
        return TriageModel(version, self.pipelines,
                           {h: info["threshold"] for h, info in self.heads.items()},
                           {"heads": self.heads}, self.min_word_coverage, self.second)
