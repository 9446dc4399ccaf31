"""How a question was typed on Discord is not what it asks: markup is removed before answering."""

import pytest

from bot.answering import QuestionError, clean_question
from bot.app.markup import strip_markup


def test_mentions_emoji_and_markdown_are_removed():
    raw = "<@123> <@!456> <@&789> <#42> <:pax:1234> **where** will the `talks` ~~really~~ begin? @everyone @here"
    assert clean_question(strip_markup(raw)) == "where will the talks really begin?"


def test_block_quotes_are_removed():
    assert (
        clean_question(strip_markup("> quoted\n>> where will the talks begin?"))
        == "quoted where will the talks begin?"
    )


def test_only_a_mention_is_an_empty_question():
    with pytest.raises(QuestionError, match="empty"):
        clean_question(strip_markup("<@123>"))


def test_a_question_with_markdown_and_mentions_is_still_just_a_question(seed_answerer):
    answer = seed_answerer.ask(strip_markup("```@everyone``` where will the **talks** begin?"))
    assert not answer.refused
    assert "Middle East" in answer.answer
