from datetime import UTC, date, datetime, timedelta

from petitionflow.domain.policy import DeadlineKind, DeadlinePolicy, PolicyBook
from petitionflow.domain.values import Jurisdiction

P = DeadlinePolicy()
K = DeadlineKind.ROUTING


def test_calendar_days_do_not_count_the_start_day() -> None:
    assert P.calendar_deadline(K, date(2026, 3, 2), 15).due == date(2026, 3, 17)


def test_a_period_ending_on_a_public_holiday_runs_to_the_next_working_day() -> None:
    # 2026-10-01..07 is the National Day holiday
    assert P.calendar_deadline(K, date(2026, 9, 16), 15).due == date(2026, 10, 8)


def test_an_adjusted_working_sunday_ends_a_period() -> None:
    # 2026-09-20 is a Sunday worked in exchange for the National Day holiday
    assert P.calendar_deadline(K, date(2026, 9, 5), 15).due == date(2026, 9, 20)


def test_rolling_can_be_switched_off_and_the_calendar_swapped() -> None:
    plain = DeadlinePolicy(roll_to_working_day=False)
    assert plain.calendar_deadline(K, date(2026, 9, 16), 15).due == date(2026, 10, 1)
    weekends = DeadlinePolicy(holiday_calendar="weekends")
    assert weekends.calendar_deadline(K, date(2026, 9, 16), 15).due == date(2026, 10, 1)


def test_working_days_skip_holidays_and_count_adjusted_working_days() -> None:
    d = P.working_deadline(DeadlineKind.OBJECTION, date(2026, 9, 29), 5)
    # 09-30, 10-08, 10-09, 10-10 (a worked Saturday), 10-12
    assert (d.due, d.counting) == (date(2026, 10, 12), "working")


def test_years_the_holiday_package_does_not_know_fall_back_to_weekends() -> None:
    assert P.calendar_deadline(K, date(2026, 12, 18), 15).due == date(2027, 1, 4)


def test_a_deadline_expires_at_the_end_of_its_last_day_beijing_time() -> None:
    d = P.calendar_deadline(K, date(2026, 3, 2), 15)
    assert d.due_at == datetime(2026, 3, 17, 16, 0, tzinfo=UTC)
    assert P.local_date(datetime(2026, 3, 17, 15, 59, tzinfo=UTC)) == date(2026, 3, 17)
    assert P.local_date(datetime(2026, 3, 17, 16, 0, tzinfo=UTC)) == date(2026, 3, 18)


def test_extension_keeps_the_start_and_rolls_the_new_end() -> None:
    d = P.calendar_deadline(DeadlineKind.HANDLING, date(2026, 7, 1), 60)  # 2026-08-30 is a Sunday
    assert d.due == date(2026, 8, 31)
    moved = P.extended(d, 30)
    assert (moved.start, moved.due) == (date(2026, 7, 1), date(2026, 9, 30))


def test_policy_book_applies_the_most_specific_override() -> None:
    book = PolicyBook(
        overrides={
            "新疆维吾尔自治区": {"handling_days": 45},
            "新疆维吾尔自治区/喀什地区": {"routing_days": 10},
        }
    )
    kashgar = Jurisdiction(region="新疆维吾尔自治区", prefecture="喀什地区", county="疏附县")
    p = book.for_jurisdiction(kashgar)
    assert (p.handling_days, p.routing_days, p.evaluation_days) == (45, 10, 30)
    other = book.for_jurisdiction(Jurisdiction(region="新疆维吾尔自治区", prefecture="和田地区"))
    assert (other.handling_days, other.routing_days) == (45, 15)
    assert book.for_jurisdiction(Jurisdiction(region="西藏自治区")) == DeadlinePolicy()
    assert timedelta(hours=P.utc_offset_hours) == timedelta(hours=8)
