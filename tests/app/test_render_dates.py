"""Issue 13: every cited report's date is visible in the Discord answer, however it is trimmed."""

from bot.answering.model import Answer, Citation
from bot.app.render import check_limits, render_answer


def _citation(n, published, source="Pine Valley Courier", quote="The talks are now held in Vienna."):
    return Citation(n, f"{n}.txt", f"Report {n}", source, published, quote, 0, len(quote))


def _fields(messages):
    return [f for m in messages for e in m.embeds for f in e.fields]


def test_the_date_is_shown_next_to_each_citation_even_with_a_long_outlet_and_quote():
    long_source = "The Extremely Long Regional Evening Gazette and Weekly Agricultural Supplement " * 4
    citations = [
        _citation(1, "2025-07-03", long_source, "word " * 400),
        _citation(2, "2025-01-22", "Harbour Ledger", "The talks moved to Istanbul this week."),
    ]
    answer = Answer(
        "Where are the talks held now?", "As of 2025-07-03, x [1]. Earlier y [2].", False, citations
    )
    messages = render_answer(answer)
    assert check_limits(messages) == []
    fields = _fields(messages)
    assert "2025-07-03" in fields[0].value and "…" in fields[0].value  # quote and outlet trimmed, date kept
    assert "2025-01-22 · Harbour Ledger" in fields[1].value


def test_dates_survive_when_the_sources_spill_into_more_embeds():
    citations = [_citation(n, f"2025-0{1 + n % 9}-1{n % 10}", quote="word " * 150) for n in range(1, 31)]
    text = " ".join(f"Sentence {c.n} [{c.n}]." for c in citations)
    messages = render_answer(Answer("How did it change?", text, False, citations))
    assert check_limits(messages) == []
    fields = _fields(messages)
    assert len(fields) == len(citations)
    assert all(c.published in f.value for f, c in zip(fields, citations))
