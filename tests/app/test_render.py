"""Rendering answers into Discord messages: every limit, clean splits, neutralised text."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answering import REFUSAL, Answer, CheckFailure, Citation, Fallback, FallbackKind
from bot.app.render import (
    CONTENT_MAX,
    DESCRIPTION_MAX,
    FIELD_VALUE_MAX,
    ZWSP,
    answer_units,
    check_limits,
    clean_text,
    dlen,
    escape,
    fit_plain,
    render_answer,
    render_notice,
    split_answer,
)

_UNESCAPE = re.compile(r"\\([\\*_~|`<(#>+.-])")


def unescape(text: str) -> str:
    """What Discord displays for our escaped text (backslash escapes and the ZWSPs after @ and a
    link's scheme removed)."""
    return _UNESCAPE.sub(r"\1", text).replace("@" + ZWSP, "@").replace(":" + ZWSP, ":")


def all_text(messages) -> list[str]:
    out = []
    for m in messages:
        if m.content:
            out.append(m.content)
        for e in m.embeds:
            out += [e.title or "", e.description or "", e.footer.text or "", e.author.name or ""]
            for f in e.fields:
                out += [f.name, f.value]
    return out


def descriptions(messages) -> list[str]:
    return [e.description for m in messages for e in m.embeds if e.description]


def citation(
    n: int, quote: str = "Putin accepted the proposal.", title: str = "Talks in Riyadh", **kw
) -> Citation:
    values = dict(doc="a.txt", source="Reuters", published="2025-03-18", start=0, end=len(quote)) | kw
    return Citation(
        n, values["doc"], title, values["source"], values["published"], quote, values["start"], values["end"]
    )


def make_answer(
    text: str, citations: list[Citation], question: str = "What did Putin agree to?", **kw
) -> Answer:
    return Answer(question=question, answer=text, refused=False, citations=citations, **kw)


# ---------------------------------------------------------------- fixed cases


def test_short_answer_is_one_message_one_embed_with_sources():
    answer = make_answer(
        "Putin agreed to a 30-day halt on energy strikes [1]. Zelensky backed it [2].",
        [citation(1), citation(2, "Zelensky said Ukraine would support it.", "Kyiv reacts")],
    )
    messages = render_answer(answer, answer_id=42)
    assert check_limits(messages) == []
    assert len(messages) == 1 and len(messages[0].embeds) == 1
    embed = messages[0].embeds[0]
    assert embed.title == "What did Putin agree to?"
    assert "[1]" in embed.description and "[2]" in embed.description
    assert [f.name for f in embed.fields] == ["[1] Talks in Riyadh", "[2] Kyiv reacts"]
    assert "Putin accepted the proposal." in embed.fields[0].value
    assert "Reuters" in embed.fields[0].value and "2025\\-03\\-18" not in embed.fields[0].value
    assert "2025-03-18" in embed.fields[0].value
    assert "extractive" in embed.footer.text.lower() and "#42" in embed.footer.text


def test_long_quote_is_trimmed_with_ellipsis():
    quote = "word " * 600
    messages = render_answer(make_answer("x [1].", [citation(1, quote)]))
    value = messages[0].embeds[0].fields[0].value
    assert "…" in value and dlen(value) <= FIELD_VALUE_MAX
    assert check_limits(messages) == []


def test_refusal_is_short_and_friendly():
    answer = Answer(question="Who won the 2030 World Cup?", answer=REFUSAL, refused=True)
    messages = render_answer(answer, answer_id=3)
    assert len(messages) == 1 and len(messages[0].embeds) == 1
    embed = messages[0].embeds[0]
    assert embed.fields == [] and "don't say" in embed.description
    assert dlen(embed.description) < 300
    assert check_limits(messages) == []


def test_backend_is_shown_and_fallback_reason():
    generated = make_answer("a [1].", [citation(1)], backend="openai")
    assert "OpenAI-compatible" in render_answer(generated)[0].embeds[0].footer.text
    fallback = make_answer(
        "a [1].",
        [citation(1)],
        backend="extractive",
        fallback=Fallback(FallbackKind.TIMED_OUT, "timed out after 20 s"),
    )
    footer = render_answer(fallback)[0].embeds[0].footer.text
    assert "Extractive" in footer and "timed out" in footer


def test_ten_thousand_char_answer_splits_between_citations():
    sentences = [
        f"Sentence number {i} says something long about the negotiations {'x' * 80} [{i % 9 + 1}]."
        for i in range(100)
    ]
    text = " ".join(sentences)
    assert len(text) > 10_000
    messages = render_answer(make_answer(text, [citation(n) for n in range(1, 10)]))
    assert check_limits(messages) == []
    assert len(messages) >= 2  # over 6,000 characters cannot be one message
    for chunk in descriptions(messages):
        assert re.search(r"\[\d+\]\.$", chunk), chunk[-40:]  # every chunk ends after a marker
    assert unescape(" ".join(descriptions(messages))) == text


def test_overlong_single_sentence_keeps_marker_whole():
    text = ("blah " * 3000) + "end [12]."
    chunks = split_answer(text, DESCRIPTION_MAX)
    assert len(chunks) >= 4 and all(dlen(c) <= DESCRIPTION_MAX for c in chunks)
    assert chunks[-1].endswith("[12].")
    assert not any(re.search(r"\[\d*$", c) for c in chunks[:-1])


def test_answer_units():
    assert answer_units("A b [1]. C d [2][3]! Tail") == ["A b [1].", "C d [2][3]!", "Tail"]
    assert answer_units("“Quoted [1].” Next [2]") == ["“Quoted [1].”", "Next [2]"]


def test_mentions_and_markdown_are_neutralised():
    nasty = "@everyone @here <@123456789012345678> <@&42> <#7> ```py\nprint(1)\n``` **bold** [click](http://evil) # Heading\n- list"
    answer = make_answer(
        f"{nasty} [1].", [citation(1, nasty, title=nasty, source="@here", published="<@1>")], question=nasty
    )
    messages = render_answer(answer)
    assert check_limits(messages) == []
    for text in all_text(messages):
        assert "@everyone" not in text and "@here" not in text
        assert not re.search(r"(?<!\\)<[@#][!&]?\d+>", text)
        assert "```" not in text
    titles = {e.title for m in messages for e in m.embeds}
    for text in all_text(messages):
        if text not in titles:  # titles show no markdown; everything else must not form any
            assert "](" not in text  # no masked link
            assert "\n#" not in text and "\n-" not in text and "**" not in text
    desc = messages[0].embeds[0].description
    assert unescape(desc) == " ".join(f"{nasty} [1].".split(" ")).replace("\n", "\n")


def test_escape_shows_the_same_text():
    text = "a_b*c~d|e`f<g(h)\\i @x #j\n- k\n12. l > m"
    assert unescape(escape(text)) == text


def test_notice_fits_content_and_has_no_mentions():
    text = render_notice("@everyone " + "x" * 5000)
    assert dlen(text) <= CONTENT_MAX and "@everyone" not in text


def test_fit_plain_trims_titles():
    assert dlen(fit_plain("🙂" * 500, 256)) <= 256
    assert fit_plain("short", 256) == "short"


def test_zero_width_and_emoji_question_title():
    answer = make_answer("ok [1].", [citation(1)], question="\u200b🙂" * 200)
    messages = render_answer(answer)
    assert check_limits(messages) == []


def test_check_limits_detects_violations():
    """The checker used by the property tests must itself catch a broken message."""
    import discord

    from bot.app.render import RenderedMessage

    bad = RenderedMessage([discord.Embed(description="x" * (DESCRIPTION_MAX + 1))])
    assert any("description" in p for p in check_limits([bad]))
    many = RenderedMessage([discord.Embed(description="x" * 4000) for _ in range(2)])
    assert any("total" in p for p in check_limits([many]))
    emoji = RenderedMessage([discord.Embed(title="🙂" * 200)])  # 200 code points, 400 UTF-16 units
    assert any("title" in p for p in check_limits([emoji]))


# ---------------------------------------------------------------- properties

_alphabet = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
    st.sampled_from(
        list("@`*_~|<>()[]#-\n\\ ")
        + ["\u200b", "\u200d", "🙂", "👍🏽", "@everyone", "@here", "<@1234567890123>", "```", "[1]", "[23]"]
    ),
)
_text = st.lists(_alphabet, max_size=400).map("".join)


@st.composite
def answers(draw):
    n_cites = draw(st.integers(0, 30))
    cites = [
        Citation(
            n, draw(_text), draw(_text), draw(st.none() | _text), draw(st.none() | _text), draw(_text), 0, 1
        )
        for n in range(1, n_cites + 1)
    ]
    sentences = draw(st.lists(st.tuples(_text, st.integers(1, 40)), max_size=30))
    text = " ".join(f"{s} [{n}]." for s, n in sentences)
    if draw(st.booleans()):
        text += " " + "long " * draw(st.integers(0, 2500))  # up to ~12,500 characters
    return Answer(
        question=draw(_text),
        answer=text,
        refused=draw(st.booleans()),
        citations=cites,
        backend=draw(st.sampled_from(["extractive", "openai", "llamacpp"])),
        fallback=draw(
            st.none()
            | st.builds(
                Fallback,
                st.sampled_from(list(FallbackKind)),
                _text,
                st.none() | st.integers(1, 9),
                st.none() | st.sampled_from(list(CheckFailure)),
            )
        ),
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(answers(), st.none() | st.integers(0, 10**12))
def test_property_every_render_is_within_discord_limits(answer, answer_id):
    messages = render_answer(answer, answer_id=answer_id)
    assert messages
    assert check_limits(messages) == []
    for text in all_text(messages):
        assert "@everyone" not in text and "@here" not in text
        assert not re.search(r"(?<!\\)<@[!&]?\d+>", text)
        assert "```" not in text
    if not answer.refused:
        # every citation is shown, once, and every description chunk ends at a unit boundary
        names = [f.name for m in messages for e in m.embeds for f in e.fields]
        assert len(names) == len(answer.citations)
        assert all(name.startswith(f"[{c.n}]") for name, c in zip(names, answer.citations))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=600), st.integers(1, 99)), min_size=1, max_size=40),
    st.integers(300, DESCRIPTION_MAX),
)
def test_property_split_never_cuts_a_sentence_from_its_marker(sentences, budget):
    clean = [" ".join(re.sub(r"[\[\]]", "", s).split()) or "x" for s, _ in sentences]
    text = " ".join(f"{s} [{n}]." for s, (_, n) in zip(clean, sentences))
    chunks = split_answer(text, budget)
    assert all(dlen(c) <= budget for c in chunks)
    joined = unescape(" ".join(chunks))
    assert " ".join(joined.split()) == " ".join(clean_text(text).split())  # only control characters dropped
    for chunk in chunks:
        assert not re.search(r"\[\d*$", chunk) and not re.match(r"^\d*\]", chunk)
        # a chunk ends with a marker unless the sentence was too long for one chunk
        if not chunk.endswith("]."):
            assert any(dlen(escape(s)) > budget // 2 for s in clean)


def test_render_real_seed_answer(seed_answerer):
    answer = seed_answerer.ask("What did Putin agree to?")
    messages = render_answer(answer, answer_id=1)
    assert check_limits(messages) == []
    embed = messages[0].embeds[0]
    assert not answer.refused and embed.fields
    for field_, cite in zip(embed.fields, answer.citations):
        shown = unescape(field_.value)
        assert cite.quote[:50] in shown or "…" in shown
        assert (cite.title or "")[:30] in field_.name
