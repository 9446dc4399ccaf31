"""What a question asks for and whether a sentence holds it (bot/answering/asks.py, who.py): "who" is
answered by a name the articles show acting, not by any capitalised word."""

from __future__ import annotations

import pytest

from bot.answering.asks import (
    Detail,
    asked_detail,
    asked_details,
    counted,
    counts,
    followed,
    has_detail,
    not_a_question,
)
from bot.answering.who import (
    actors,
    asked_side,
    asks_words,
    cyrillic_speakers,
    cyrillic_terms,
    leads_side,
    names_any,
    speakers,
    utters,
)

LEAD = (
    "OSLO (Pinewood Times) - Russian and Ukrainian teams agreed in Oslo on Thursday to reinstate the "
    "safety zone around the Zaporizhzhia nuclear plant."
)
NAMED = "Marta Lysenko, Ukraine's lead negotiator, said the wider zone moves the guns back."
LATER = "Lysenko's deputy stayed in Kyiv."
SPOKE = "The Kremlin stated that the talks would go on."


def test_names_written_in_full_or_acting_are_learned_and_datelines_and_nationalities_are_not():
    found = actors([LEAD, NAMED, SPOKE])
    assert {"lysenko", "kremlin"} <= found  # "Marta" opens its sentence: only its surname is sure
    assert not found & {"oslo", "pinewood", "times", "russian", "ukrainian", "zaporizhzhia", "thursday"}
    # A sentence's first word is capitalised by grammar, not because it names anyone.
    assert "negotiators" not in actors(["Negotiators signed a protocol on Wednesday."])
    assert "russian" not in actors(["Russian President Vladimir Putin spoke first."])
    # Places written in full are not people: "the Black Sea", "in New York".
    assert not actors(["Ships crossed the Black Sea and docked in New York."]) & {
        "black",
        "sea",
        "new",
        "york",
    }


def test_a_wire_lead_does_not_answer_who_but_the_sentence_naming_the_person_does():
    question = "Who speaks for Ukraine at the nuclear safety talks?"
    assert asked_detail(question) is Detail.PERSON
    known = actors([LEAD, NAMED, LATER])
    assert not has_detail(LEAD, Detail.PERSON, question, known)
    assert has_detail(NAMED, Detail.PERSON, question, known)
    assert has_detail(LATER, Detail.PERSON, question, known)  # the surname alone, once learned
    # Without names learned from the articles, any capitalised name the question lacks counts.
    assert has_detail(LEAD, Detail.PERSON, question)


def test_a_body_acting_in_any_inflection_is_learned():
    # "Qatar attending as co-mediator" answers "who mediates the talks now?"; a verb list with
    # only the past tense of saying missed it and the question was refused.
    assert "qatar" in actors(["The talks will stay in Oslo, with Qatar attending as co-mediator."])
    assert "norway" in actors(["The talks go on, and Norway hosts them."])
    assert "keller" in actors(["Since July, Keller chairs the sessions."])
    # A capitalised word before a noun is still no actor.
    assert "oslo" not in actors(["The talks will stay in Oslo, with Norwegian officials chairing."])


def test_a_name_the_question_already_gives_is_not_the_answer():
    known = actors([NAMED])
    assert not has_detail(NAMED, Detail.PERSON, "Who did Marta Lysenko meet?", known)


def test_the_asked_detail_is_read_through_the_words_people_put_before_it():
    # "what's the exact city" asks for a place as much as "which city" does (the old patterns
    # wanted the two words side by side, so the question asked for nothing in particular and
    # "Talks will begin in the Middle East" answered it).
    assert asked_detail("what's the exact city in the middle east where they'll meet?") is Detail.PLACE
    assert asked_detail("Which specific country hosts the talks?") is Detail.PLACE
    assert asked_detail("What is the date of the next round?") is Detail.DATE
    assert asked_detail("what was the number of inspectors on site") is Detail.NUMBER
    assert asked_detail("What did the city council say?") is None
    question = "what's the exact city in the middle east where they'll meet?"
    assert not has_detail(
        "Talks will begin immediately in the Middle East.", asked_detail(question), question
    )
    assert has_detail("Talks will begin in Riyadh.", asked_detail(question), question)


def test_a_question_about_someones_words_needs_a_sentence_naming_them():
    sentences = [
        "Tensions escalated after Trump met with Ukrainian President Volodymyr Zelensky.",
        "The White House confirmed that both leaders decided to pause attacks on energy infrastructure.",
    ]
    # Written in lower case, the name is known from the articles' capitalised "Zelensky".
    assert speakers("what did zelensky say about the energy truce?", sentences) == {"zelensky"}
    assert not names_any(sentences[1], speakers("What did China say about the truce?", sentences))
    assert names_any(sentences[0], speakers("How did Zelensky react?", sentences))
    # No one named: "they", "both sides"; "Putin's envoy" is the envoy, not Putin.
    assert not speakers("what did they say about it", sentences)
    assert not speakers("What did both sides want?", sentences)
    assert not speakers("what did Putin's envoy claim", sentences)
    # A party of the talks is also named by its capital or seat.
    kremlin = "The Kremlin insists that Ukraine must stop military mobilization."
    assert names_any(kremlin, speakers("What does Russia want Kyiv to stop doing?", [kremlin]))


def test_what_an_absent_speaker_said_is_refused_over_a_related_sentence(seed_answerer):
    # The article is about the truce but quotes no Chinese official: its truce sentences are not
    # what China said.
    assert seed_answerer.ask("What did China say about the ceasefire?").refused
    answer = seed_answerer.ask("What did Dmitriev say about the call?")
    assert not answer.refused and "Dmitriev" in answer.citations[0].quote


def test_what_someone_said_needs_a_sentence_where_they_say_something():
    assert asks_words("what did zelensky say about the energy truce?")
    assert asks_words("What did Rubio tell reporters?")
    assert not asks_words("What does Russia want Kyiv to stop doing?")  # a demand, not words
    assert not asks_words("how did zelensky react?")
    assert not utters("Tensions escalated after Trump met with Ukrainian President Volodymyr Zelensky.")
    assert utters("Senator Marco Rubio responded that U.S. decisions won't rely on public statements.")
    assert utters("Russian envoy Kirill Dmitriev called the call a «historic moment».")


def test_a_speaker_named_but_not_speaking_is_no_answer(seed_answerer):
    # The article names Zelensky once, in a sentence about Trump meeting him: nothing he said.
    assert seed_answerer.ask("what did zelensky say about the energy truce?").refused
    answer = seed_answerer.ask("what did rubio say?")
    assert not answer.refused and "Senator Marco Rubio responded" in answer.citations[0].quote


def test_where_needs_a_name_the_sentence_puts_somewhere():
    question = "where are the talks gonna happen?"
    assert asked_detail(question) is Detail.PLACE
    placed = [
        "Talks will begin immediately in the Middle East.",
        "The delegations flew home from Doha.",
        "Norway will host the next round.",
        "The session was hosted by Switzerland.",
        "In Geneva, the talks went on.",
        "The Port of Halden closed after a storm.",
    ]
    for sentence in placed:
        assert has_detail(sentence, Detail.PLACE, question), sentence
    # A name that is nowhere: a country's sovereignty, a person, a month, a dateline.
    unplaced = [
        "This raises concerns about Ukraine’s sovereignty and the true scope of the talks.",
        "Tensions escalated after Trump spoke.",
        "The talks resume in March.",
        "OSLO (Pinewood Times) - The talks went on.",
        "Secretary of State Marco Rubio spoke first.",
    ]
    for sentence in unplaced:
        assert not has_detail(sentence, Detail.PLACE, question), sentence


def test_where_the_talks_happen_is_answered_with_the_place(seed_answerer):
    # "This raises concerns about Ukraine's sovereignty … the talks" was quoted: any name counted.
    answer = seed_answerer.ask("where are the talks gonna happen?")
    assert answer.citations[0].quote == "Talks will begin immediately in the Middle East."


def test_every_part_of_a_question_names_its_speaker():
    sentences = [
        "The White House confirmed that both leaders decided to pause attacks.",
        "However, the Kremlin insists that Ukraine must stop military mobilization.",
    ]
    question = "what did the white house say and what did the kremlin demand?"
    who = speakers(question, sentences)
    assert {"white", "house", "kremlin"} <= who
    assert all(names_any(sentence, who) for sentence in sentences)
    # The second part asks a demand, so a sentence need not report words.
    assert not asks_words(question)
    assert asks_words("what did the white house say and what did the kremlin tell them?")


def test_a_speaker_the_articles_never_name_is_known_as_absent():
    sentences = ["Russian envoy Kirill Dmitriev called the call a «historic moment»."]
    used = {"russian", "envoy", "call", "moment"}.__contains__
    # Typed in lower case and used by no article: nothing can answer for China.
    who = speakers("what did china say about the call?", sentences, used)
    assert who == {"china", "chinese", "beijing"} and not names_any(sentences[0], who)
    assert not speakers("what did they say about the call?", sentences, used)
    # A party is named by any of its names: "the americans" by "U.S.".
    assert names_any(
        "Leavitt said the U.S. is closer than ever.", speakers("what did the americans say?", [], used)
    )


def test_what_an_unnamed_speaker_typed_in_lower_case_said_is_refused(seed_answerer):
    assert seed_answerer.ask("what did china say about the call?").refused
    assert seed_answerer.ask("what did the experts say about the call?").refused


def test_whether_someone_said_anything_names_its_speaker_too(seed_answerer):
    used = {"kremlin", "zelensky"}.__contains__
    assert speakers("did china say anything about the deal?", [], used) == {"china", "chinese", "beijing"}
    assert asks_words("has zelensky commented on the call?")
    # Only verbs of saying: "does the article suggest …" asks what the article says.
    assert not speakers("Does the article suggest that Meta is changing course?", [], used)
    # Answered before with the White House's «closer than ever to a peace deal».
    assert seed_answerer.ask("did china say anything about the deal?").refused
    kremlin = seed_answerer.ask("did the kremlin say anything about the military?")
    assert not kremlin.refused and "The Kremlin stated" in kremlin.citations[0].quote


def test_the_doer_of_a_passive_acts():
    found = actors(
        [
            "The truce is monitored by Swiss observers.",
            "Observers returned, joined for the first time by a Turkish monitoring team.",
            "The talks were hosted by the Swiss foreign ministry.",
        ]
    )
    assert {"swiss", "turkish"} <= found
    assert not actors(["The list is due by June.", "The plan was drawn up by hand."])


SEED_SENTENCES = [
    "Russian envoy Kirill Dmitriev called the call a «historic moment».",
    "Chancellor Friedrich Merz said Europe would help.",
    "Senator Marco Rubio responded that U.S. decisions won’t rely on Russian public statements.",
    "However, the Kremlin insists that Ukraine must stop military mobilization.",
    "Tensions escalated after Trump met with Ukrainian President Volodymyr Zelensky.",
]


@pytest.mark.parametrize(
    ("question", "named", "words"),
    [
        ("Что сказал Рубио?", {"rubio"}, True),
        ("Що сказав Зеленський про перемир'я?", {"zelensky"}, True),
        ("Как Ушаков назвал американское перемирие?", {"ushakov"}, True),  # named in no sentence here
        ("Что Трамп предложил?", {"trump"}, False),  # a deed: "Tramp" is Trump
        ("Що вимагає Кремль від України?", {"kremlin", "russia", "moscow"}, False),  # a party
        ("Чего хочет Россия?", {"russian", "kremlin"}, False),
        ("Что по этому поводу сказал Зеленский?", {"zelensky"}, True),  # the name after the verb
        ("А что в итоге заявил Кремль?", {"kremlin"}, True),
        ("Что сказал представитель Белого дома?", {"u.s"}, True),  # the party, in the genitive
        ("Что сказал Мерц?", {"merz"}, True),  # a short name one letter off (merts)
        ("Какие санкции ввел ЕС против России?", {"europe", "brussels"}, False),  # a deed
        ("Какие меры предложил Трамп?", {"trump"}, False),
    ],
)
def test_a_russian_or_ukrainian_question_names_its_speaker_in_latin(question, named, words):
    who, asks = cyrillic_speakers(question, SEED_SENTENCES)
    assert named <= who and asks is words


def test_the_doer_before_the_verb_is_the_speaker_not_the_one_spoken_to():
    who, _ = cyrillic_speakers("Что Путин сказал Зеленскому?", SEED_SENTENCES)
    assert "putin" in who and "zelensky" not in who


def test_a_cyrillic_name_no_sentence_matches_names_no_one():
    who, _ = cyrillic_speakers("Что сказал Макрон?", SEED_SENTENCES)
    assert who and not any(names_any(s, who) for s in SEED_SENTENCES)
    assert cyrillic_speakers("Сколько длился разговор?", SEED_SENTENCES) == (frozenset(), False)
    # An acronym is translated, not transliterated (МАГАТЭ is the IAEA): it names no one absent.
    assert cyrillic_speakers("Что заявило МАГАТЭ?", SEED_SENTENCES) == (frozenset(), False)
    assert cyrillic_speakers("Что сказали о перемирии?", SEED_SENTENCES) == (frozenset(), False)


def test_what_someone_said_in_russian_or_ukrainian_needs_them_to_say_it(seed_answerer):
    # Zelensky is named once, met by Trump: nothing he said. Both were answered with another
    # speaker's words (Dmitriev's, Rubio's).
    assert seed_answerer.ask("Что сказал Зеленский?").refused
    assert seed_answerer.ask("Що сказав Зеленський про перемир'я?").refused
    # Nor what the EU did, which no sentence names (it was answered with Rubio's words).
    assert seed_answerer.ask("Какие санкции ввел ЕС против России?").refused
    answer = seed_answerer.ask("Что сказал Рубио?")
    assert not answer.refused and "Rubio" in answer.citations[0].quote


def test_where_someone_stands_asks_for_no_place():
    assert asked_detail("Where does Russia stand on the ceasefire?") is None
    assert asked_detail("where is this whole thing heading?") is None
    assert asked_detail("Where will the delegations meet?") is Detail.PLACE


def test_a_person_or_a_party_is_no_place():
    question = "Where will Putin meet Trump?"
    assert not has_detail("Putin said he would talk to Trump's team.", Detail.PLACE, question)
    assert not has_detail("Witkoff delivered the message to Trump.", Detail.PLACE, "where will they meet?")
    assert not has_detail("Talks between Kyiv and Moscow stalled.", Detail.PLACE, "where will they meet?")


def test_a_name_before_said_with_its_full_stop_acts():
    assert "zelensky" in actors(["Kyiv rejected the plan, Zelensky said."])


def test_us_in_capitals_is_the_american_party_and_us_in_lower_case_is_no_one():
    sentences = ["The U.S. said it was closer than ever to a deal."]
    assert names_any(sentences[0], speakers("What did the US say about sanctions?", sentences))
    assert not names_any("They told us nothing.", speakers("What did the USA say?", sentences))


def test_a_move_to_a_place_is_a_place():
    question = "In January 2025, where were the prisoner exchange talks held?"
    assert has_detail("The prisoner exchange talks moved to Istanbul this week.", Detail.PLACE, question)
    assert has_detail("Delegates travelled to Geneva.", Detail.PLACE, question)


def test_a_place_after_a_or_an_is_a_place_only_before_a_place_noun():
    question = "which city was the court where he entered his plea?"
    assert asked_detail(question) is Detail.PLACE
    assert has_detail("He appeared in a Seattle federal court on Tuesday.", Detail.PLACE, question)
    for sentence in ["He said so in a Bloomberg interview.", "At a Senate hearing, he spoke."]:
        assert not has_detail(sentence, Detail.PLACE, question), sentence


def test_which_city_or_country_in_russian_or_ukrainian_asks_for_a_place():
    for question in [
        "У якому місті перебував Путін під час розмови з Трампом?",  # у, not only в
        "в якій країні пройде наступний раунд?",
        "В какой стране прошли переговоры?",
        "какой город примет следующий раунд?",
        "яке місто приймає переговори?",
    ]:
        assert asked_detail(question) is Detail.PLACE, question
    for question in [
        "какое место заняла команда?",  # a ranking, not a place
        "На каком месте Украина в рейтинге?",
        "Яке місце посіла Україна на Євробаченні?",
        "Какая странная логика, зачем Кремлю это?",  # "странная" is no country
    ]:
        assert asked_detail(question) is not Detail.PLACE, question
    assert asked_detail("Кто из какой страны приехал?") is Detail.PERSON


def test_how_many_things_is_not_counted_by_a_measure_of_something_else():
    question = "how many power plants r actually covered by the energy pause?"
    assert asked_detail(question) is Detail.NUMBER
    assert not has_detail(
        "Putin accepted a 30-day pause in energy infrastructure attacks.", Detail.NUMBER, question
    )
    assert not has_detail("After a two-hour call, his 11-year-old son spoke.", Detail.NUMBER, question)
    assert has_detail("The pause covers 12 power plants and lasts 30 days.", Detail.NUMBER, question)
    assert has_detail("Twelve plants and a 30-day pause.", Detail.NUMBER, question)
    # Spelled-out and other counts still count; only a measure of time, distance or age is set aside.
    for sentence, asked in [
        ("Twenty-three people were killed in Odesa.", "How many people were killed in Odesa?"),
        ("A 12-person delegation arrived.", "how many people are in the delegation?"),
        ("A 31-country coalition signed.", "how many countries signed?"),
    ]:
        assert has_detail(sentence, Detail.NUMBER, asked), sentence
    # The measure answers when it is what is counted, and any other "how" question.
    assert has_detail(
        "The 30-day ceasefire was broken.",
        Detail.NUMBER,
        "How long did the ceasefire last and how many times was it broken?",
    )
    assert has_detail("Putin accepted a 30-day pause.", Detail.NUMBER, "how many days does the pause last?")
    assert has_detail("Putin accepted a 30-day pause.", Detail.NUMBER, "how long is the pause?")


def test_where_asked_inside_another_question_asks_for_a_place_and_a_relative_where_does_not():
    for question in [
        "what's the latest on where the corridor talks are happening these days?",
        "any idea where they meet next?",
        "Where will the talks begin?",
    ]:
        assert asked_detail(question) is Detail.PLACE, question
    for question in [
        "What is the platform criticized for its parental controls and where players can spend money?",
        "Did the article describe a situation where the coach chose an aggressive strategy?",
        "not sure where to ask this, but is the ceasefire holding?",
        "No idea where this is going, did Russia accept?",
        "I wonder where this leaves Ukraine's NATO bid",
        "Any thoughts about where the talks go from here?",
    ]:
        assert asked_detail(question) is not Detail.PLACE, question
    assert asked_detail("Who decided on where the talks would be held?") is Detail.PERSON


def test_the_number_of_things_asks_for_a_count_of_them():
    question = "How did the number of inspection vessels working the corridor change over time?"
    assert asked_detail(question) is Detail.NUMBER
    assert has_detail("The inspection fleet will grow to eight vessels.", Detail.NUMBER, question)
    assert not has_detail("Talks ran for a two-hour session.", Detail.NUMBER, question)
    assert not has_detail("Kyiv wants neutral inspection vessels checking cargo.", Detail.NUMBER, question)
    # Another question word leads: the number is its topic, not what it asks.
    assert asked_detail("Why did the number of ships through the corridor drop?") is None
    assert asked_detail("Who reported the number of civilian casualties?") is Detail.PERSON
    assert asked_detail("When did the number of exchanged prisoners pass 1,000?") is Detail.TIME


def test_a_dollar_value_asks_for_money_and_a_dollar_in_a_description_does_not():
    question = "What's the total dollar value of the cargo shipped through the corridor so far?"
    assert asked_detail(question) is Detail.MONEY
    assert not has_detail("The corridor has cleared 264 ships in total.", Detail.MONEY, question)
    assert asked_detail("how many dollars did the fund raise?") is Detail.MONEY
    for question in ["What's the strategic value of Bakhmut?", "What value does Turkey add?"]:
        assert asked_detail(question) is not Detail.MONEY, question
    assert (
        asked_detail("Which exchange withdrew a multi-billion dollar equivalent in assets from FTX?")
        is not Detail.MONEY
    )


def test_a_sum_of_money_needs_a_currency_not_just_a_number():
    for question in [
        "how much money did her son spend on the game?",
        "how much is binance paying to settle with the doj?",
        "what was the production budget of the film?",
        "Сколько стоит самый дешевый Steam Deck?",
        "скільки коштують окуляри?",
        "а какая годовая выручка у компании?",
        "за скільки амазон хотів купити irobot?",
    ]:
        assert asked_detail(question) is Detail.MONEY, question
    assert has_detail("Binance agreed to pay about $4.3 billion.", Detail.MONEY)
    assert has_detail("The fine was 2 million euros.", Detail.MONEY)
    # A number that is no sum: "how much money" is not answered by a child's age.
    assert not has_detail("Someone wondered why Gellar's 11-year-old had a credit card.", Detail.MONEY)
    # Amounts that are not money stay numbers.
    for question in [
        "how much of the aid is military?",
        "how much progress was made in the talks?",
        "how much time did they spend negotiating?",
        "how much did the stock price fall?",
        "скільки отримала Україна танків?",
        "скільки платформ підтримує гра?",
        "за сколько дней дошли?",
    ]:
        assert asked_detail(question) is Detail.NUMBER, question
    assert asked_detail("какой процент бюджета уходит на оборону?") is None
    assert asked_detail("what was the final score?") is Detail.NUMBER
    assert asked_detail("скок щас человек работает в компании?") is Detail.NUMBER


def test_a_russian_or_ukrainian_question_shares_names_latin_words_and_numbers_with_the_articles():
    sentences = [
        "We know that TikTok counted 150 million users in the United States as of February 2023.",
        "Secretary of State Marco Rubio spoke.",
        "Richard Teng will be the new CEO of Binance.",
    ]
    assert cyrillic_terms("скільки юзерів у тіктока в сша?", sentences) == ["tiktok"]
    assert cyrillic_terms("какая зарплата у ричарда тенга в binance?", sentences) == [
        "binance",
        "richard",
        "teng",
    ]
    assert cyrillic_terms("за сколько hipgnosis продал 20 тыщ песен?", sentences) == ["hipgnosis", "20"]
    assert cyrillic_terms("Что сказала Beyoncé про Müller?", []) == ["Beyoncé", "Müller"]  # accents kept
    # "статье" reads "state", but "according to the article" is the question's frame, and a party
    # (США: the US, the United States, Washington) is named by many English words.
    assert cyrillic_terms("Что, согласно статье, сказал Рубио о США?", sentences) == ["rubio"]


def test_a_comparison_asks_two_things():
    from bot.answering.scoring import question_parts

    assert question_parts("how much is ohtani getting vs what is hayes gonna make per year?") == [
        "how much is ohtani getting",
        "what is hayes gonna make per year",
    ]
    assert question_parts("who won the game vs the giants?") == []  # "vs" naming a side
    # A question word is a whole word: "Israel" does not start a part with "is".
    assert question_parts("how many died in the Iran vs Israel war so far?") == []
    assert question_parts("how did Gaza and Israel fare last week?") == []


def test_each_part_asks_its_own_detail_and_one_that_asks_none_leaves_the_others_standing():
    def details(question):
        from bot.answering.scoring import question_parts

        return asked_details(question, question_parts(question))

    assert details("who's taking over binance, and how much is it paying to settle?") == {
        Detail.PERSON,
        Detail.MONEY,
    }
    # "what did the kremlin say" asks for nothing in particular: the number is still asked for
    # (with None beside it, a sentence without one would pass, as if the question asked nothing).
    assert details("how long was the call vs what did the kremlin say?") == {Detail.NUMBER}
    # ...unless the whole question asks for nothing in particular, as this one reads.
    assert details("what did ushakov call the ceasefire, and who leads the us negotiators?") == {
        None,
        Detail.PERSON,
    }
    assert details("what did the white house say and what did the kremlin demand?") == {None}
    assert details("а какая годовая выручка у компании? в долларах скок") == {Detail.MONEY}  # a fragment
    assert details("а кто купил компанию? и за сколько?") == {Detail.PERSON, Detail.MONEY}
    assert details("where will they meet?") == {Detail.PLACE}


def test_an_opinion_is_asked_in_any_of_the_three_languages_and_chat_spelling():
    for question in [
        "do u think the talks will work?",
        "what do ya think about the deal?",
        "Як думаєте, чи буде мир?",
        "как вы думаете, договорятся ли они?",
        "що ти вважаєш про цю угоду?",
    ]:
        assert not_a_question(question), question
    for question in ["что думают в Кремле о сделке?", "what do officials think of the deal?"]:
        assert not not_a_question(question), question


def test_who_leads_a_side_is_answered_only_by_a_sentence_that_puts_the_side_beside_its_leader():
    ukraine, russia = asked_side("who leads Ukraine's team?"), asked_side("who leads Russia's team?")
    assert ukraine is not None and russia is not None and ukraine != russia
    for question, side in [
        ("Who was in charge of Kyiv's team when the talks opened?", ukraine),
        ("хто зараз очолює українську делегацію на переговорах?", ukraine),
        ("кто возглавляет российскую делегацию?", russia),
        ("who speaks for Ukraine at the table today?", ukraine),
        ("who represented moscow at the february talks?", russia),
    ]:
        assert asked_side(question) == side, question
    for question in [
        "who leads the us negotiators",  # not a side of the war
        "who mediates the talks now?",  # no word of leading
        "who leads the talks between Kyiv and Moscow?",  # both sides
    ]:
        assert asked_side(question) is None, question
    for sentence in [
        "The Ukrainian side is led by Oleh Marchuk, a deputy infrastructure minister.",
        "Kyiv's technical team is headed by Deputy Energy Minister Andriy Kovalenko.",
        "Marta Lysenko, Ukraine's lead negotiator, said the zone moves the guns back.",
        "Andriy Kovalenko, who leads the Ukrainian team, called it a first step.",
    ]:
        assert leads_side(sentence, ukraine), sentence
    assert leads_side("Moscow is represented by Pavel Ignatov, an adviser.", russia)
    for sentence in [
        "Moscow is represented by Pavel Ignatov, an adviser.",  # the other side
        'Ignatov rejected the idea as "a map drawn in Kyiv".',  # the side, but no one leading it
        # the side and a leader, far apart: the mediator leads no side
        "VALLETTA (Harbourline News) - Russian and Ukrainian delegations began talks in Valletta on "
        "Tuesday on a corridor across the Black Sea, with diplomat Clara Farrugia acting as chief mediator.",
    ]:
        assert not leads_side(sentence, ukraine), sentence


def test_a_number_counts_what_the_question_counts_before_it_or_brought_to_it():
    stems = counted("How did the number of inspection vessels working the corridor change over time?")
    for sentence in [
        "policed by three inspection vessels with mixed crews",
        "an agreement to add two more inspection vessels, bringing the total to five",
        "The inspection fleet will grow to eight vessels.",
        "The number of inspection vessels at the anchorage is being raised to 12.",
    ]:
        assert counts(sentence, stems), sentence
    for sentence in [
        "By Monday, 112 ships had been cleared through the corridor.",  # a count of something else
        "A drone struck one of the inspection vessels at anchor.",  # one of them, not their number
        "Inspections at sea have taken between two and four hours per ship.",
        "The inspection vessels sailed at dawn.",  # no number
    ]:
        assert not counts(sentence, stems), sentence
    # What is counted, without the words about time or change.
    assert counted("how has the count of ships cleared through the corridor grown over time?") == {
        "ship",
        "clear",
    }
    assert counted("How did the venue change over time?") == frozenset()


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("how did the fee per ship change over time?", Detail.MONEY),
        ("How has the total number of exchanged prisoners changed over time?", Detail.NUMBER),
        ("how did the host city of the nuclear talks change over time?", Detail.PLACE),
        ("How did the venue of the prisoner exchange talks change over time?", Detail.PLACE),
        ("how has the chief mediator changed over time?", Detail.PERSON),
        ("What happened to the safety zone around the plant over time?", None),
        ("як змінювалося місце проведення переговорів?", Detail.PLACE),
        ("как менялось число обменянных пленных со временем?", Detail.NUMBER),
        ("як змінювалася плата за прохід?", Detail.MONEY),
        ("как менялся главный посредник?", Detail.PERSON),
        ("как менялась ситуация?", None),
    ],
)
def test_a_change_question_follows_the_kind_of_value_it_names(question, kind):
    assert followed(question) is kind


def test_a_fee_or_charge_in_russian_or_ukrainian_asks_for_a_sum():
    for question in [
        "яка зараз плата за прохід одного судна?",
        "какая плата за проход?",
        "какой сбор платит судно?",
    ]:
        assert asked_detail(question) is Detail.MONEY, question
    assert asked_detail("какая сейчас ситуация?") is None
