"""Questions about what someone is are answered with every title the articles give the person
(bot/answering/roles.py)."""

from __future__ import annotations

import pytest

from bot.answering.roles import asked_person, title_of

SENTENCES = [
    "Russian envoy Kirill Dmitriev called the call a historic moment.",
    "U.S. officials, led by Special Envoy Steve Witkoff and Secretary of State Marco Rubio, have been negotiating.",
    "Senator Marco Rubio responded that decisions won't rely on public statements.",
    "Marta Lysenko, Ukraine's lead negotiator, said the zone moves the guns back.",
    "After meeting Putin, Witkoff briefed Trump.",
]


@pytest.mark.parametrize(
    ("sentence", "keys", "title"),
    [
        (SENTENCES[0], {"dmitriev"}, "russian envoy"),
        (SENTENCES[1], {"rubio"}, "secretary of state"),
        (SENTENCES[1], {"witkoff"}, "special envoy"),
        (SENTENCES[2], {"marco", "rubio"}, "senator"),
        (SENTENCES[3], {"lysenko"}, "ukraine's lead negotiator"),  # an apposition
        (SENTENCES[4], {"witkoff"}, None),  # named, but given no title
        (SENTENCES[4], {"putin"}, None),
    ],
)
def test_the_title_a_sentence_gives_a_person(sentence, keys, title):
    assert title_of(sentence, frozenset(keys)) == title


@pytest.mark.parametrize(
    ("question", "keys"),
    [
        ("what's dmitriev's actaul role, like is he a minister or smth", {"dmitriev"}),
        ("what title does the article give marco rubio?", {"marco", "rubio"}),
        ("what position does Rubio hold?", {"rubio"}),
        ("who's kirill dmitriev", {"kirill", "dmitriev"}),
        ("who is Witkoff?", {"witkoff"}),
        ("who exactly is Witkoff?", {"witkoff"}),
        ("what does witkoff do?", {"witkoff"}),
        ("what does Witkoff want?", set()),
        ("Who is leading the U.S. negotiations?", set()),  # asks for a person, not what one is
        ("Who is the president of France?", set()),
        ("what's Macron's role?", set()),  # no article names him
        (
            "Does the report say that Witkoff's role grew after the call, while another article says "
            "the Kremlin doubted it?",
            set(),
        ),  # a long question asks more than what someone is
    ],
)
def test_whose_role_a_question_asks(question, keys):
    assert asked_person(question, SENTENCES) == frozenset(keys)


def test_every_title_the_article_gives_is_cited(seed_answerer):
    answer = seed_answerer.ask("what title does the article give marco rubio?")
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == 2
    assert (
        "Secretary of State Marco Rubio" in quotes[0] and "Senator Marco Rubio" in quotes[1]
    )  # reading order


def test_a_role_question_full_of_guesses_is_answered(seed_answerer):
    # "minister", "smth", "actaul": none in the article, and none needed.
    answer = seed_answerer.ask("what's dmitriev's actaul role, like is he a minister or smth")
    assert not answer.refused
    assert [c.quote for c in answer.citations] == [
        "Russian envoy Kirill Dmitriev called the call a «historic moment,» claiming the world is now safer."
    ]


@pytest.mark.parametrize("question", ["what's Macron's role?", "Who is the president of France?"])
def test_someone_the_articles_do_not_name_is_refused(seed_answerer, question):
    assert seed_answerer.ask(question).refused
