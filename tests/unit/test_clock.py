"""The one clock: frozen in a process, or by MAILPOOLS_NOW for a whole program."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import clock, settings
from app.errors import MailpoolsError
from app.settings import Settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T09:00:00", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        ("2026-11-26 09:00", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, 0, 0, tzinfo=UTC)),
        ("2026-11-26T09:00:00Z", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        ("2026-11-26T09:00:00+00:00", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        ("2026-11-26T11:30:00+02:00", datetime(2026, 11, 26, 9, 30, tzinfo=UTC)),
        ("2026-11-26T01:00:00-09:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        ("  2026-11-26T09:00:00.250000  ", datetime(2026, 11, 26, 9, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_mailpools_now_with_and_without_an_offset(value, expected):
    with settings.in_force(Settings.load({"MAILPOOLS_NOW": value})):
        moment = clock.now()
        assert moment == expected
        assert moment.utcoffset() == timedelta(0)
        assert clock.today() == expected.date()


def test_an_offset_can_move_the_day():
    with clock.frozen_at("2026-11-26T23:30:00-05:00"):
        assert clock.today() == date(2026, 11, 27)


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01", "26/11/2026", "2026-11-26T25:00"])
def test_a_bad_value_is_named_with_an_example(value):
    with pytest.raises(MailpoolsError) as refused:
        Settings.load({"MAILPOOLS_NOW": value})
    assert refused.value.message == (
        f"MAILPOOLS_NOW is not an ISO 8601 time: {value!r} (try 2026-11-26T09:00:00)"
    )


def test_without_mailpools_now_the_clock_is_the_real_time_in_utc():
    with clock.running(), settings.in_force(Settings.load({})):
        before = datetime.now(UTC)
        moment = clock.now()
        after = datetime.now(UTC)
    assert before <= moment <= after
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_an_empty_mailpools_now_means_the_real_time():
    configured = Settings.load({"MAILPOOLS_NOW": ""})
    assert configured.now is None
    with clock.running(), settings.in_force(configured):
        assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_frozen_clock_nests_and_goes_back_when_the_block_ends():
    outside = clock.now()
    with clock.frozen_at(datetime(2027, 1, 1, 12, 0)) as moment:
        assert moment == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
        with clock.frozen_at("2027-02-01T08:00:00+01:00"):
            assert clock.now() == datetime(2027, 2, 1, 7, 0, tzinfo=UTC)
        assert clock.now() == moment
    assert clock.now() == outside


def test_settings_without_a_moment_leave_a_frozen_clock_alone():
    with clock.frozen_at("2027-01-01T12:00:00"), settings.in_force(Settings()):
        assert clock.now() == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


# ISO 8601 text carries a fixed offset in hours and minutes, never a zone's rules,
# so whole-minute offsets are what to vary.
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=OFFSETS
    )
)
def test_any_aware_moment_round_trips_as_the_same_instant(moment):
    parsed = clock.parse_instant(moment.isoformat())
    assert parsed == moment
    assert parsed.utcoffset() == timedelta(0)


@given(st.one_of(st.text(max_size=40), st.datetimes(timezones=OFFSETS).map(datetime.isoformat)))
def test_any_text_is_a_moment_in_utc_or_a_clear_refusal(text):
    try:
        moment = clock.parse_instant(text)
    except MailpoolsError as refused:
        assert "MAILPOOLS_NOW" in refused.message
    else:
        assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_beyond_the_calendar_is_refused(value):
    with pytest.raises(MailpoolsError, match="MAILPOOLS_NOW is out of range"):
        Settings.load({"MAILPOOLS_NOW": value})
