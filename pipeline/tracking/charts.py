"""The report's charts as inline SVG, drawn with matplotlib's object API (no pyplot state,
so the daemon can draw in a worker thread). Text stays text in the SVG, which keeps the
files small and the labels searchable in the browser."""

from __future__ import annotations

import io
from typing import Any

import matplotlib
from matplotlib.figure import Figure

matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "triaje"  # the same data draws the same bytes

WORDS = {
    "es": {"week": "semana", "rate": "% mal clasificado", "coverage": "cobertura (% sin revisión)",
           "precision": "precisión", "recall": "exhaustividad", "truth": "etiqueta humana",
           "predicted": "predicción", "now": "umbral actual", "class": "clase"},
    "en": {"week": "week", "rate": "% misclassified", "coverage": "coverage (% routed unreviewed)",
           "precision": "precision", "recall": "recall", "truth": "human label",
           "predicted": "prediction", "now": "current threshold", "class": "class"},
}


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["en"])


def rate_over_time(heads: dict[str, Any], names: dict[str, str], language: str) -> str:
    """Weekly share of predictions found misclassified, one line per head."""
    words = _words(language)
    fig = Figure(figsize=(7.5, 3.2))
    ax = fig.subplots()
    weeks = sorted({w["week"] for h in heads.values() for w in h["by_week"]})
    for head, data in heads.items():
        rates = {w["week"]: 100 * (w["rate"] or 0.0) for w in data["by_week"]}
        ax.plot(weeks, [rates.get(w, float("nan")) for w in weeks], marker="o",
                label=names.get(head, head))
    ax.set_xlabel(words["week"])
    ax.set_ylabel(words["rate"])
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    return _svg(fig)


def confusion_heatmap(confusion: dict[str, Any], title: str, language: str) -> str:
    words, labels, matrix = _words(language), confusion["labels"], confusion["matrix"]
    size = max(2.8, 0.55 * len(labels) + 1.6)
    fig = Figure(figsize=(size + 0.8, size))
    ax = fig.subplots()
    image = ax.imshow(matrix or [[0]], cmap="Blues")
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if top and value > top / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(words["predicted"])
    ax.set_ylabel(words["truth"])
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _svg(fig)


def precision_recall(by_class: list[dict[str, Any]], title: str, language: str) -> str:
    words = _words(language)
    labels = [c["label"] for c in by_class]
    fig = Figure(figsize=(max(4.0, 0.8 * len(labels) + 1.5), 3.0))
    ax = fig.subplots()
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], [100 * (c["precision"] or 0) for c in by_class], 0.4,
           label=words["precision"])
    ax.bar([x + 0.2 for x in xs], [100 * (c["recall"] or 0) for c in by_class], 0.4,
           label=words["recall"])
    ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("%")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=2, frameon=False)
    return _svg(fig)


def coverage_precision(heads: dict[str, Any], names: dict[str, str], language: str) -> str:
    """For each confidence threshold: share routed unreviewed against precision where checked;
    the dot is where the model works today."""
    words = _words(language)
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for head, data in heads.items():
        points = [p for p in data["curve"] if p["precision"] is not None]
        line = ax.plot([100 * p["coverage"] for p in points],
                       [100 * p["precision"] for p in points], marker=".",
                       label=names.get(head, head))[0]
        now = data["threshold"]
        if now["coverage"] is not None and now["precision"] is not None:
            ax.plot([100 * now["coverage"]], [100 * now["precision"]], "o", markersize=9,
                    color=line.get_color(), markeredgecolor="black")
    ax.set_xlabel(words["coverage"])
    ax.set_ylabel(words["precision"] + " (%)")
    ax.set_xlim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="● " + words["now"], title_fontsize=8)
    return _svg(fig)
