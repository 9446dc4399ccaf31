"""Issue 13: reading time in a question (bot/answering/when.py), against a fixed TODAY."""

import datetime as dt

import pytest

from bot.answering.when import parse_today, read_when

TODAY = "2025-11-20"
D = dt.date


@pytest.mark.parametrize(
    "question",
    [
        "Which city hosts the talks these days?",
        "How many inspectors are at the plant now?",
        "Who is the chief mediator currently?",
        "What is the latest on the corridor truce?",
        "Is the truce still in force?",
        "How many prisoners have been exchanged so far?",
    ],
)
def test_recency_words(question):
    when = read_when(question, TODAY)
    assert when.recency and when.temporal and when.period is None and not when.prediction


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("сколько кораблей прошло через коридор на данный момент?", "ru"),
        ("кто до сих пор возглавляет делегацию?", "ru"),
        ("скільки суден пройшло коридором на даний момент?", "uk"),
        ("коридор досі закритий?", "uk"),
    ],
)
def test_recency_words_in_russian_and_ukrainian(question, language):
    when = read_when(question, TODAY, language)
    assert when.recency and when.period is None


@pytest.mark.parametrize(
    ("question", "period", "label"),
    [
        (
            "In April 2025, which measures did the teams settle on?",
            (D(2025, 4, 1), D(2025, 4, 30)),
            "April 2025",
        ),
        ("What was agreed in March?", (D(2025, 3, 1), D(2025, 3, 31)), "March 2025"),
        ("What happened on 12 May?", (D(2025, 5, 12), D(2025, 5, 12)), "2025-05-12"),
        (
            "What happened at the session on 25 November 2025?",
            (D(2025, 11, 25), D(2025, 11, 25)),
            "2025-11-25",
        ),
        ("What was agreed in 2023?", (D(2023, 1, 1), D(2023, 12, 31)), "2023"),
    ],
)
def test_absolute_periods(question, period, label):
    when = read_when(question, TODAY)
    assert (when.period, when.period_label) == (period, label)
    assert not when.recency


def test_relative_periods_are_resolved_against_a_fixed_today():
    assert read_when("What happened last month?", "2025-05-20").period == (D(2025, 4, 1), D(2025, 4, 30))
    assert read_when("What happened last month?", "2025-08-15").period == (D(2025, 7, 1), D(2025, 7, 31))
    assert read_when("What happened two months ago?", TODAY).period == (D(2025, 9, 1), D(2025, 9, 30))
    assert read_when("What did they say last week?", TODAY).period == (D(2025, 11, 10), D(2025, 11, 16))
    this_year = read_when("How has the count changed this year?", TODAY)
    assert this_year.period == (D(2025, 1, 1), D(2025, 12, 31)) and this_year.soft_period


def test_today_setting_parses_and_defaults_to_the_real_date():
    assert parse_today("2025-06-12") == D(2025, 6, 12)
    assert parse_today(None) == dt.date.today()


@pytest.mark.parametrize(
    "question",
    [
        "May the talks resume?",  # "may" the verb
        "How many prisoners were exchanged in the 20 swaps?",  # a number
        "Who won the 2024 Super Bowl?",  # a year naming something
        "What will the call test?",  # a plan the articles report, not a forecast
        "Where will the talks begin?",
    ],
)
def test_false_positives_are_not_time(question):
    when = read_when(question, TODAY)
    assert when.period is None and not when.prediction and not when.before and not when.after


def test_before_and_after_a_date_or_an_event():
    assert read_when("Who led the talks before June 2025?", TODAY).before == D(2025, 6, 1)
    assert read_when("What happened after March 2025?", TODAY).after == D(2025, 3, 31)
    assert read_when("What changed since March 2025?", TODAY).after == D(2025, 2, 28)
    assert (
        read_when("What happened to the truce after the drone strike?", TODAY).after_event
        == "the drone strike"
    )
    assert (
        read_when("Who mediated before the talks moved to Vienna?", TODAY).before_event
        == "the talks moved to Vienna"
    )


@pytest.mark.parametrize(
    "question",
    [
        "Will the reactors be restarted in 2026?",
        "What will happen to the truce?",
        "Can you predict the next swap?",
        "Is the truce going to hold?",
    ],
)
def test_predictions(question):
    assert read_when(question, TODAY).prediction


@pytest.mark.parametrize(
    "question",
    [
        "How has the number of inspectors changed this year?",
        "What happened to the safety zone over time?",
        "How did the venue of the talks change?",
    ],
)
def test_change_over_time(question):
    assert read_when(question, TODAY).change_over_time


def test_time_words_are_left_out_of_the_terms():
    question = "How many inspectors are at the plant now in April 2025?"
    stripped = read_when(question, TODAY).strip(question)
    assert stripped.startswith("How many inspectors are at the plant")
    assert not {"now", "April", "2025"} & set(stripped.replace("?", " ").split())


def test_seasons_which_dateparser_does_not_read():
    assert read_when("Who chaired the talks in autumn 2024?", TODAY).period == (
        D(2024, 9, 1),
        D(2024, 11, 30),
    )
    assert read_when("What happened in the summer of 2025?", TODAY).period_label == "summer 2025"
    assert read_when("Did the numbers fall in 2025?", TODAY).period_label == "2025"  # "fall" the verb


def test_what_happened_is_time_not_content():
    question = "What happened in March 2025?"
    assert read_when(question, TODAY).strip(question) == "What ?"


def test_a_date_without_its_year_is_the_latest_one_the_articles_can_speak_of():
    newest_article = D(2025, 10, 30)
    assert read_when("What was agreed in March?", "2026-12-05", yearless_base=newest_article).period == (
        D(2025, 3, 1),
        D(2025, 3, 31),
    )
    assert read_when("What happened on 12 May?", "2026-12-05", yearless_base=newest_article).period[0] == D(
        2025, 5, 12
    )
    # relative dates stay relative to today
    assert read_when("What happened last month?", "2026-12-05", yearless_base=newest_article).period[0] == D(
        2026, 11, 1
    )


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("where will the next round be held?", "en"),
        ("когда следующий раунд переговоров?", "ru"),
        ("де відбудеться наступна зустріч?", "uk"),
    ],
)
def test_the_next_round_is_the_one_the_newest_report_speaks_of(question, language):
    when = read_when(question, TODAY, language)
    # Recency, with the words kept: they are what the question is about.
    assert when.recency and not when.prediction and when.spans == ()


def test_next_year_is_a_period_not_the_next_round():
    when = read_when("how many inspectors will be at the plant next year?", TODAY)
    assert not when.recency and when.period == (D(2026, 1, 1), D(2026, 12, 31))


@pytest.mark.parametrize(
    ("question", "language", "label", "words"),
    [
        ("кто возглавлял команду Киева в январе 2025 года?", "ru", "January 2025", "в январе 2025 года"),
        ("що вирішили у березні?", "uk", "March 2025", "березні"),
        ("где проходили переговоры в мае 2025?", "ru", "May 2025", "в мае 2025"),
        # Ukrainian letters read its months as Ukrainian whatever language was guessed
        (
            "Хто очолював команду, коли в січні 2025 року відкрилися переговори?",
            "ru",
            "January 2025",
            "січні 2025 року",
        ),
        ("что решили в прошлом месяце?", "ru", "November 2025", "прошлом месяце"),
        ("что решили в прошлом году?", "ru", "2024", "прошлом году"),
        ("що вирішили на минулому тижні?", "uk", "the week of 2025-11-24", "минулому тижні"),
        ("что было летом 2025 года?", "ru", "summer 2025", "летом 2025 года"),
        ("що вирішили влітку 2025 року?", "uk", "summer 2025", "влітку 2025 року"),
        ("где проходили переговоры весной?", "ru", "spring 2025", "весной"),
    ],
)
def test_a_month_in_the_russian_or_ukrainian_locative_is_a_period(question, language, label, words):
    # dateparser reads «січень 2025», «5 января», «минулого тижня» but not «в январе», «у березні»,
    # «в прошлом месяце», and no season: these were read as the whole year or as no time at all.
    when = read_when(question, today="2025-12-01", language=language)
    assert when.period_label == label
    assert [question[a:b] for a, b in when.spans] == [
        words
    ]  # the question's own words, left out of the terms


def test_this_week_or_season_in_russian_or_ukrainian_is_a_hint_like_this_year():
    for question in ["что решили на этой неделе?", "что решили этой осенью?", "що вирішили у цьому році?"]:
        when = read_when(question, today="2025-12-01", language="ru")
        assert when.period is not None and when.soft_period, question


@pytest.mark.parametrize(
    ("question", "before", "after"),
    [
        (
            "кто был посредником до того, как переговоры переехали в Варну?",
            "переговоры переехали в Варну",
            None,
        ),
        (
            "хто був посередником до того, як переговори переїхали до Варни?",
            "переговори переїхали до Варни",
            None,
        ),
        ("кто был посредником после того, как коридор закрыли?", None, "коридор закрыли"),
        ("після того як коридор закрили, хто був посередником?", None, "коридор закрили"),
    ],
)
def test_before_or_after_a_clause_in_russian_or_ukrainian_is_the_clause(question, before, after):
    # «до того, как …» was read as "before «того»" (that), which no article dates.
    when = read_when(question, today="2025-12-01", language="ru")
    assert (when.before_event, when.after_event) == (before, after)


def test_by_a_month_in_the_russian_dative_is_that_month():
    when = read_when(
        "сколько судов прошло через коридор к августу 2025 года?", today="2025-12-01", language="ru"
    )
    assert when.period_label == "August 2025"


@pytest.mark.parametrize(
    "question",
    ["що вирішать на раунді у Варні?", "что решат в Варне?", "что будет дальше с коридором?",
     "what will the negotiators agree on in varna?", "чем закончатся переговоры?"],
)  # fmt: skip
def test_what_they_will_decide_is_a_prediction(question):
    assert read_when(question, today="2025-12-01", language="ru").prediction


@pytest.mark.parametrize(
    "question",
    [
        "what was eventually agreed?",
        "how did it end up?",
        "as things stand, who mediates?",
        "where do things stand with the corridor?",
        "что в итоге решили?",
        "какие новости о переговорах в Варне?",
        "що зрештою вирішили?",
        "хто нині очолює делегацію?",
    ],
)
def test_the_final_or_present_state_asks_for_the_latest(question):
    assert read_when(question, today="2025-12-01", language="ru").recency, question


def test_how_talks_ended_is_not_read_as_the_latest_nor_a_prediction():
    # «Чем закончились переговоры в Москве?» asks the outcome of those talks (probe-32).
    when = read_when("Чем закончились переговоры в Москве?", today="2025-12-01", language="ru")
    assert not when.recency and not when.prediction
