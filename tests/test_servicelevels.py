"""Service-level targets: config, due times with and without business hours, date wording."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from zoneinfo import ZoneInfo

import outgoing
import pytest

from pipeline.config import from_dict, servicelevels
from pipeline.config.servicelevels import first_response_due, parse_duration, resolution_due
from pipeline.errors import ConfigError
from pipeline.outbound.datetext import format_when
from pipeline.outbound.templatecheck import Guess, sample_context

MADRID = ZoneInfo("Europe/Madrid")
FRIDAY_EVENING = datetime(2026, 11, 27, 17, 45, tzinfo=MADRID)  # a Friday
BASE = {"database": {"url": "sqlite:///unused.db"}}


def outbound(**tables):
    return from_dict({**BASE, **tables}).outbound


def levels(**table):
    return outbound(service_levels=table).service_levels


def test_durations_parse_and_reject_nonsense():
    assert parse_duration("1h30m").seconds == 5400
    assert parse_duration("2d").days == 2
    assert parse_duration("1w").weeks == 1
    for bad in ("", "10", "3x", "0m", "1h 30", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_config_example_from_the_issue_loads_and_keeps_other_defaults():
    sl = levels(critical={"first_response": "30m", "resolution": "4h"},
                business_hours="08:00-18:00", business_days=[1, 2, 3, 4, 5],
                holidays=["2026-12-25"], timezone="Europe/Madrid")
    assert sl.targets["critical"].first_response.seconds == 30 * 60
    assert set(sl.targets) == {"critical", "high", "medium", "low"}
    assert sl.business_hours is not None and sl.holidays[0].isoformat() == "2026-12-25"


@pytest.mark.parametrize("table, key", [
    ({"critical": {"first_response": "soon"}}, "service_levels.critical.first_response"),
    ({"critical": {"first_respons": "1h"}}, "service_levels.critical.first_respons"),
    ({"business_hours": "18:00-08:00"}, "service_levels.business_hours"),
    ({"business_days": [0, 1]}, "service_levels.business_days"),
    ({"holidays": ["25/12/2026"]}, "service_levels.holidays"),
    ({"timezone": "Mars/Olympus"}, "service_levels.timezone"),
    ({"default_priority": "p9"}, "service_levels.default_priority"),
    ({"urgent": {"first_response": "1h"}}, "service_levels.urgent.resolution"),
    ({"typo": 3}, "service_levels.typo"),
])
def test_bad_service_levels_name_the_key(table, key):
    with pytest.raises(ConfigError) as caught:
        levels(**table)
    assert caught.value.key == key


def test_calendar_time_without_business_hours():
    sl = levels()
    assert first_response_due(sl, "high", FRIDAY_EVENING) == datetime(2026, 11, 27, 19, 45,
                                                                       tzinfo=MADRID)
    assert resolution_due(sl, "medium", FRIDAY_EVENING) == datetime(2026, 11, 30, 17, 45,
                                                                    tzinfo=MADRID)


def test_calendar_time_counts_real_hours_across_a_clock_change():
    # Madrid leaves summer time at 03:00 on Sunday 25 October 2026: 4 real hours after
    # 23:00 CEST (21:00 UTC) is 01:00 UTC, which is 02:00 on the wall clock.
    received = datetime(2026, 10, 24, 23, 0, tzinfo=MADRID)
    due = resolution_due(levels(), "critical", received)
    assert (due.astimezone(UTC) - received.astimezone(UTC)).total_seconds() == 4 * 3600
    assert (due.hour, due.minute, due.utcoffset().total_seconds()) == (2, 0, 3600)


def test_business_hours_skip_the_weekend():
    sl = levels(business_hours="08:00-18:00")
    # 15 minutes left on Friday, the other 1 h 45 min on Monday from 08:00.
    assert first_response_due(sl, "high", FRIDAY_EVENING) == datetime(2026, 11, 30, 9, 45,
                                                                      tzinfo=MADRID)


def test_business_hours_skip_holidays_and_start_at_opening():
    sl = levels(business_hours="08:00-18:00", holidays=["2026-11-30"])
    assert first_response_due(sl, "high", FRIDAY_EVENING) == datetime(2026, 12, 1, 9, 45,
                                                                      tzinfo=MADRID)
    early = datetime(2026, 12, 2, 6, 10, tzinfo=MADRID)
    assert first_response_due(sl, "critical", early) == datetime(2026, 12, 2, 8, 30,
                                                                 tzinfo=MADRID)


def test_a_business_day_is_a_working_day_not_24_hours():
    sl = levels(business_hours="09:00-17:00", business_days=[1, 2, 3, 4])  # no Fridays
    thursday_noon = datetime(2026, 11, 26, 12, 0, tzinfo=MADRID)
    assert first_response_due(sl, "low", thursday_noon) == datetime(2026, 11, 30, 12, 0,
                                                                    tzinfo=MADRID)


def test_unknown_or_doubtful_priority_uses_the_default_priority():
    sl = levels(default_priority="low")
    assert first_response_due(sl, "whatever", FRIDAY_EVENING) == \
        first_response_due(sl, "low", FRIDAY_EVENING)


def test_dates_are_worded_per_language_without_locale():
    monday = datetime(2026, 11, 30, 10, 30, tzinfo=MADRID)
    assert format_when(monday, "es") == "el lunes 30 de noviembre a las 10:30"
    assert format_when(monday, "en") == "Monday 30 November at 10:30"
    one = datetime(2026, 11, 30, 1, 5, tzinfo=MADRID)
    assert format_when(one, "es") == "el lunes 30 de noviembre a la 1:05"
    new_year = datetime(2027, 1, 4, 9, 0, tzinfo=MADRID)
    assert format_when(new_year, "es", monday) == "el lunes 4 de enero de 2027 a las 9:00"
    assert format_when(new_year, "en", monday) == "Monday 4 January 2027 at 09:00"


def _ack_text(cfg, ctx) -> str:
    mails = outgoing.build_mails(cfg, ctx)
    ack = next(m for m in mails if m.kind == "ack")
    msg = email.message_from_bytes(ack.raw, policy=policy.default)
    return msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize("language, hours, expected", [
    ("es", None, "como muy tarde el viernes 27 de noviembre a las 19:45"),
    ("en", None, "by Friday 27 November at 19:45 at the latest"),
    ("es", "08:00-18:00", "como muy tarde el lunes 30 de noviembre a las 9:45"),
    ("en", "08:00-18:00", "by Monday 30 November at 09:45 at the latest"),
])
def test_ack_states_the_first_response_time_for_the_priority(language, hours, expected):
    table = {"business_hours": hours} if hours else {}
    cfg = outbound(service_levels=table)
    ctx = sample_context(language, received_at=FRIDAY_EVENING)
    assert expected in _ack_text(cfg, ctx)


def test_ack_promise_follows_the_predicted_priority():
    cfg = outbound()
    critical = sample_context("en", received_at=FRIDAY_EVENING,
                              predictions={"type": Guess("incident", 0.9),
                                           "priority": Guess("critical", 0.9)})
    expected = first_response_due(cfg.service_levels, "critical", FRIDAY_EVENING)
    assert format_when(expected, "en") in _ack_text(cfg, critical)
    assert expected == datetime(2026, 11, 27, 18, 15, tzinfo=MADRID)


def test_due_is_aware_and_in_the_desk_time_zone():
    sl = levels(timezone="America/Bogota")
    due = servicelevels.first_response_due(sl, "high", FRIDAY_EVENING)
    assert due.tzinfo is not None and due.utcoffset().total_seconds() == -5 * 3600
