"""Config section [tracking]: corrections, audit sample, report and retraining.

Every key is optional; without the section corrections by mail still work (from the team
addresses named in [routing]), the audit draws 5 % of confident predictions, and nothing
is mailed or retrained on a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

from apscheduler.triggers.cron import CronTrigger

from pipeline.config.reader import Table, build

REPORT_LANGUAGES = ("es", "en")
PROMOTE_RULES = ("each_head", "mean")


@dataclass(frozen=True)
class TrackingConfig:
    correctors: tuple[str, ...] = ()  # who may correct by mail, besides the [routing] teams
    audit_fraction: float = 0.05  # share of confident predictions drawn for review
    report_language: str = "es"
    report_recipients: tuple[str, ...] = ()
    report_schedule: str | None = None  # cron expression, e.g. "0 8 * * mon"
    retrain_schedule: str | None = None  # cron expression, e.g. "0 3 * * sun"
    promote_margin: float = 0.0  # the candidate may be this much worse in macro-F1, no more
    promote_on: str = "each_head"  # each_head: no head may get worse; mean: the mean over heads
    holdout_fraction: float = 0.2  # the most recent labelled messages held out for evaluation
    min_holdout: int = 30  # fewer labelled messages than this: evaluate on the seed split


def from_root(root: Table) -> TrackingConfig:
    return build(root.table("tracking"), _tracking)


def _tracking(t: Table) -> TrackingConfig:
    d = TrackingConfig()
    return TrackingConfig(
        correctors=t.addresses("correctors", "someone@example.org"),
        audit_fraction=t.float("audit_fraction", d.audit_fraction, 0.0, 1.0),
        report_language=t.choice("report_language", REPORT_LANGUAGES, d.report_language),
        report_recipients=t.addresses("report_recipients", "someone@example.org"),
        report_schedule=_cron(t, "report_schedule"),
        retrain_schedule=_cron(t, "retrain_schedule"),
        promote_margin=t.float("promote_margin", d.promote_margin, 0.0, 1.0),
        promote_on=t.choice("promote_on", PROMOTE_RULES, d.promote_on),
        holdout_fraction=t.float("holdout_fraction", d.holdout_fraction, 0.05, 0.9),
        min_holdout=t.int("min_holdout", d.min_holdout, minimum=1),
    )



def _cron(t: Table, key: str) -> str | None:
    value = t.str(key, None)
    if value is None:
        return None
    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise t.error(key, f"is not a cron expression: {value!r} ({exc})",
                      'write five fields: minute hour day month weekday, e.g. "0 8 * * mon"') from exc
    return value
