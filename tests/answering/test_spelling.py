"""Typos in English questions are corrected for searching and weighing (bot/answering/spelling.py)."""

from __future__ import annotations

import pytest

from bot.answering.spelling import correct

ARTICLE_WORDS = {
    "dmitriev",
    "witkoff",
    "kyiv",
    "zaporizhzhia",
    "negotiations",
    "presidents",
    "ceasefire",
    "prisoners",
    "energy",
    "the",
}


def fix(text: str) -> str:
    return correct(text, lambda word: word in ARTICLE_WORDS)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("where will the negotations start?", "where will the negotiations start?"),
        ("what did the presidnets agree?", "what did the presidents agree?"),  # swapped letters
        ("is the ceasfire holding", "is the ceasefire holding"),  # a dropped letter
        ("how many prisonners were exchanged", "how many prisoners were exchanged"),  # a doubled one
        ("Enrgy strikes paused?", "Energy strikes paused?"),  # the first word keeps its capital
        ("what did dmitreiv say?", "what did dmitriev say?"),  # a name the articles use
        ("who is Witkof?", "who is Witkoff?"),  # capitalised: corrected only to the articles' names
    ],
)
def test_a_misspelled_word_is_corrected_by_one_edit(typed, meant):
    assert fix(typed) == meant


@pytest.mark.parametrize(
    "text",
    [
        "what's the population of kyiv?",  # dictionary words the articles lack stay: they are asked for
        "what did dmitriev say?",  # a word the articles use, however unusual
        "what did Zelensky say?",  # a capitalised name inside the question
        "what does the IAEA want?",  # an acronym
        "wat did he say",  # too short to correct safely
        "what about zaporizhzhia's plant",  # apostrophes
        "что сказал Путин?",  # not English: nothing to look up
        "is the convo about apes?",  # a correction the articles don't use either ("convoy")
    ],
)
def test_words_that_are_not_typos_are_left_alone(text):
    assert fix(text) == text


def test_a_name_is_never_corrected_into_two_words():
    # Two stop words ("be'once") count as used by every article; "beyonce" (the articles write
    # Beyoncé) stays as typed.
    assert correct("how much did the beyonce film make?", lambda word: 9 if "'" in word else 0) == (
        "how much did the beyonce film make?"
    )
