"""Profile of processing alone: where the time per mail goes, write stages apart.

Stores N mixed messages (the same corpus as run.py) in a fresh database (SQLite, or
PostgreSQL from tests/postgres.py) with no server involved, loads the model, then runs
`runner.process_pending` under cProfile and prints ms per mail for the whole run and for
the parts (cumulative time of the runner's functions), then the top functions.

    python bench/ingest/hotspots.py [--messages 2000] [--models DIR] [--engine sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench" / "ingest"))
sys.path.insert(0, str(ROOT))
from postgres import Postgres  # noqa: E402
from run import corpus  # noqa: E402

from pipeline import config as configmod  # noqa: E402
from pipeline import services  # noqa: E402
from pipeline.ingest import rawstore  # noqa: E402
from pipeline.process import runner  # noqa: E402

PARTS = ("runner.py:.*\\(_run_each\\)", "runner.py:.*\\(_run_batch\\)", "runner.py:.*\\(_write_all\\)",
         "runner.py:.*\\(_load\\)", "inboundstate.py:.*\\(claim\\)", "inboundstate.py:.*\\(release\\)")


def build(url: str, models: str | None, workdir: Path) -> services.Services:
    cfg = configmod.from_dict({
        "database": {"url": url}, "mailboxes": [],
        "desk": {"addresses": ["desk@example.org"], "sender_limit": 1_000_000},
        "routing": {"default": ["cau@example.org"], "triage": ["triage@example.org"]},
        "classifier": {"models_dir": models or str(workdir / "no-models")}}, "profile")
    return services.build(cfg, with_model=models is not None)


def store(env: services.Services, messages: list[bytes]) -> None:
    with env.engine.begin() as conn:
        for uid, raw in enumerate(messages, 1):
            rawstore.store_raw(conn, rawstore.Origin("bench", "INBOX", 1, uid), raw)


def parts(stats: pstats.Stats, n: int) -> dict[str, float]:
    found = {}
    for (path, line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        label = f"{Path(path).name}:{line}({name})"
        for pattern in PARTS:
            if re.fullmatch(pattern, label):
                found[f"{Path(path).name} {name}"] = ct * 1000 / n
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--models", default=None)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    pg = Postgres().start() if args.engine == "postgresql" else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = pg.create_database() if pg else f"sqlite:///{tmp}/profile.db"
            env = build(url, args.models, Path(tmp))
            store(env, corpus(args.messages))
            profile = cProfile.Profile()
            start = time.perf_counter()
            profile.enable()
            summary = runner.process_pending(env)
            profile.disable()
            wall = time.perf_counter() - start
            env.engine.dispose()
    finally:
        if pg is not None:
            pg.cleanup()
    n = args.messages
    print(f"{args.engine}: {n} messages, model {'on' if args.models else 'off'}, "
          f"{wall:.1f} s under cProfile = {wall * 1000 / n:.2f} ms/mail; {summary.as_dict()}")
    print("code:", Path(runner.__file__).resolve().parents[2])
    for name, ms in sorted(parts(pstats.Stats(profile), n).items(), key=lambda kv: -kv[1]):
        print(f"  {name:<32}{ms:>7.2f} ms/mail")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
