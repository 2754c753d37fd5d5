"""Rewrite the "Class counts" table of README.md from the seed files, and check them.

    python training_data/update_counts.py

Fails (exit 1) on near-duplicates across all files: pairs of bodies with TF-IDF cosine
similarity above 0.8, which would leak between cross-validation folds.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

HERE = Path(__file__).parent
MARK = re.compile(r"<!-- counts -->.*?(<!-- /counts -->|$)", re.S)


def load() -> pd.DataFrame:
    frames = [pd.read_csv(p, keep_default_na=False).assign(file=p.name)
              for p in sorted(HERE.glob("seed_*.csv"))]
    return pd.concat(frames, ignore_index=True)


def table(df: pd.DataFrame) -> str:
    lines = [f"{len(df)} rows; {(df.language == 'es').mean():.0%} Spanish.", ""]
    for head in ("file", "language", "type", "priority", "queue"):
        counts = df[head].value_counts()
        lines += [f"| {head} | rows |", "|---|---|"]
        lines += [f"| {label} | {n} |" for label, n in counts.items()]
        lines.append("")
    return "\n".join(lines)


def near_duplicates(df: pd.DataFrame, limit: float = 0.8) -> list[tuple[int, int, float]]:
    vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(df.body)
    sims = (vectors @ vectors.T).tocoo()
    return [(i, j, v) for i, j, v in zip(sims.row, sims.col, sims.data, strict=True)
            if i < j and v > limit]


def main() -> int:
    df = load()
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = "<!-- counts -->\n" + table(df) + "<!-- /counts -->"
    readme.write_text(MARK.sub(lambda _m: block, text, count=1), encoding="utf-8")
    dupes = near_duplicates(df)
    for i, j, v in dupes[:20]:
        print(f"near-duplicate {v:.2f}: {df.file[i]}:{i} / {df.file[j]}:{j}")
    print(f"{len(df)} rows, {len(dupes)} near-duplicate pairs")
    return 1 if dupes else 0


if __name__ == "__main__":
    sys.exit(main())
