"""Tables for people; the JSON forms are for scripts and live in the commands."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def heads_table(title: str, heads: dict[str, dict]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("head", "rows", "macro-F1", "accuracy", "threshold", "coverage",
                   "precision@thr"):
        table.add_column(column, justify="left" if column == "head" else "right")
    for head, m in heads.items():
        rows = m.get("rows", sum(c["support"] for c in m["per_class"].values()))
        table.add_row(head, str(rows), _num(m["macro_f1"]), _num(m["accuracy"]),
                      _num(m.get("threshold")), _num(m["coverage"]),
                      _num(m["precision_at_threshold"]))
    return table


def classes_table(heads: dict[str, dict]) -> Table:
    table = Table(title="per class", title_justify="left")
    for column in ("head", "label", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column in ("head", "label") else "right")
    for head, m in heads.items():
        for label, c in m["per_class"].items():
            table.add_row(head, label, _num(c["precision"]), _num(c["recall"]), _num(c["f1"]),
                          str(c["support"]))
    return table


def print_train(summary: dict) -> None:
    console = Console()
    console.print(heads_table(f"model {summary['version']} -> {summary['out']} "
                              f"(cross-validated, target precision "
                              f"{summary['target_precision']:.2f})", summary["heads"]))
    console.print(classes_table(summary["heads"]))
    for head, why in summary["skipped_heads"].items():
        console.print(f"[yellow]skipped head {head}[/]: {why}")
    for head, m in summary["heads"].items():
        for label, rows in m.get("rare_labels", {}).items():
            console.print(f"[yellow]{head}: label {label!r} learned from only {rows} rows[/]; "
                          "its figures are uncertain")


def print_evaluation(result: dict, version: str) -> None:
    console = Console()
    console.print(heads_table(f"model {version} on {result['n']} rows", result["heads"]))
    console.print(classes_table(result["heads"]))
    for head, m in result["heads"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in m["review_reasons"].items()) or "none"
        console.print(f"{head}: {m['not_reviewed']:.1%} without review, right "
                      f"{_num(m['precision_not_reviewed'])}; to a person: {reasons}")
        for label, rows in m["rare_labels"].items():
            console.print(f"[yellow]{head}: label {label!r} learned from only {rows} rows[/]")


def classify_line(result: dict, heads: tuple[str, ...]) -> str:
    if "error" in result:
        return f"{result['file']}: error: {result['error']}"
    parts = []
    for head in heads:
        p = result[head]
        review = " review" if p["needs_review"] else ""
        parts.append(f"{head}={p['label']} ({p['confidence']:.2f}{review})")
    return f"{result['file']}: [{result['language']}] " + "  ".join(parts)
