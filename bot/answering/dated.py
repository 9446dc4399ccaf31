"""Date-aware answers: the hits an answer is composed from, chosen by what the question says about
time (``when.read_when``) and the articles' ``Published:`` dates, and the answer's date lead.

- **recency** ("latest", "now", "still"): among the articles that answer (the fitted thresholds of
  bot/answering/scoring.py, not a sort that ignores relevance), the newest wins; undated articles
  rank as undated (oldest), never as newest. The answer leads with the report's date and, where an
  older article answers differently (at the answer threshold itself), adds that earlier state with its date;
- **a period** ("in April 2025", "last week"): the articles published in it; a period the corpus
  does not cover is refused, naming the corpus's range;
- **before/after** a date or an event (the event dated by the article that reports it);
- **change over time**: one cited line per report date, oldest first;
- **a prediction** ("will X happen"): refused — the articles report, they don't forecast.

Operates on ``Hit`` lists only; the answerer still chooses and quotes the sentences.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field

from bot.answering.about import DATELINE, opening_node
from bot.answering.asks import Detail, counted, counts, followed, has_detail
from bot.answering.lexical import content_terms
from bot.answering.model import Answer, Citation, with_markers
from bot.answering.when import When, parse_today, read_when
from bot.answering.who import actors
from index.chunking import node_sentences
from index.retrieval import Hit

POOL = 30  # candidates retrieved for a time question before reweighting
CHANGE_MARGIN = 0.5  # a line of a change-over-time list: this share of the best article's score
MAX_TIMELINE = 6
EARLIER_STATE = True  # a recency answer also gives the earlier state (one line, with its date)


def _grace(period: tuple[dt.date, dt.date]) -> dt.timedelta:
    """Reports come after the events: a day or a week is covered by articles up to a week later."""
    days = (period[1] - period[0]).days
    return dt.timedelta(days=7 if days <= 7 else 3 if days <= 31 else 0)


TEXTS = {
    "en": {
        "as_of": "As of {date}, ",
        "earlier": "Earlier, as of {date}: ",
        "timeline": "How it changed, by report date:",
        "range": "The articles run from {first} to {last}; none covers {what}.",
        "before": "The articles run from {first} to {last}; none is from before {date}.",
        "after": "The articles run from {first} to {last}; none is from after {date}.",
        "empty": "There are no dated articles to answer that from.",
        "prediction": "I can't predict what will happen: the articles only report what has happened"
        "{upto}, so I won't forecast it.",
        "upto": " (up to {last})",
    },
    "ru": {
        "as_of": "По состоянию на {date}, ",
        "earlier": "Ранее, по состоянию на {date}: ",
        "timeline": "Как это менялось, по датам публикаций:",
        "range": "Статьи охватывают период с {first} по {last}; ни одна не относится к периоду: {what}.",
        "before": "Статьи охватывают период с {first} по {last}; ни одной нет ранее {date}.",
        "after": "Статьи охватывают период с {first} по {last}; ни одной нет позже {date}.",
        "empty": "Нет датированных статей, чтобы ответить на этот вопрос.",
        "prediction": "Я не делаю прогнозов: статьи сообщают только о том, что уже произошло{upto}.",
        "upto": " (по {last})",
    },
    "uk": {
        "as_of": "Станом на {date}, ",
        "earlier": "Раніше, станом на {date}: ",
        "timeline": "Як це змінювалося, за датами публікацій:",
        "range": "Статті охоплюють період з {first} по {last}; жодна не стосується періоду: {what}.",
        "before": "Статті охоплюють період з {first} по {last}; жодної немає раніше {date}.",
        "after": "Статті охоплюють період з {first} по {last}; жодної немає пізніше {date}.",
        "empty": "Немає датованих статей, щоб відповісти на це питання.",
        "prediction": "Я не роблю прогнозів: статті повідомляють лише про те, що вже сталося{upto}.",
        "upto": " (до {last})",
    },
}


def _text(language: str, key: str, **values) -> str:
    return TEXTS.get(language, TEXTS["en"])[key].format(**values)


def published(hit: Hit) -> dt.date | None:
    """The article's ``Published:`` day, or None when it has none (undated)."""
    return _day(hit.node.metadata.get("published"))


def _day(value) -> dt.date | None:
    """A ``Published:`` value as a day (None: undated or unreadable)."""
    value = str(value or "").strip()
    try:
        return dt.date.fromisoformat(value[:10]) if re.match(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        return None


def corpus_range(retriever) -> tuple[dt.date, dt.date] | None:
    """The first and last ``Published:`` day of the index version's (live) articles."""
    days = _days(retriever)
    return (min(days), max(days)) if days else None


@dataclass
class Timed:
    """What ``arrange`` decided: the query and hits to compose from, or a finished answer."""

    query: str
    hits: list[Hit]
    when: When = field(default_factory=When)
    answer: Answer | None = None  # a refusal, a change-over-time list, a dateline: nothing left to compose
    earlier: list = field(default_factory=list)  # (date, candidate) of an older state to add
    language: str = "en"

    def finish(self, answer: Answer) -> Answer:
        """The composed answer with its date lead ("As of 2025-06-12, …") and the earlier state."""
        if answer.refused or not self.when.temporal or not answer.citations:
            return answer
        day = answer.citations[0].published
        text = answer.answer
        if day:
            text = _text(self.language, "as_of", date=day[:10]) + text
        citations = list(answer.citations)
        quoted = {(c.doc, c.start, c.end) for c in citations}
        for day_, cand in self.earlier:
            citation = _citation(len(citations) + 1, cand)
            if (citation.doc, citation.start, citation.end) in quoted or citation.doc in {
                c.doc for c in citations
            }:
                continue
            citations.append(citation)
            text += (
                " "
                + _text(self.language, "earlier", date=day_.isoformat())
                + with_markers(citation.quote, [citation.n])
            )
        return dataclasses.replace(answer, answer=text, citations=citations)


def _citation(n: int, cand) -> Citation:
    meta = cand.hit.node.metadata
    base = cand.hit.node.start_char_idx or 0
    quote = cand.hit.node.text[cand.start - base : cand.end - base]
    return Citation(
        n,
        meta.get("doc"),
        meta.get("title"),
        meta.get("source"),
        meta.get("published"),
        quote,
        cand.start,
        cand.end,
    )


def _refusal(question: str, message: str) -> Answer:
    return Answer(question=question, answer=message, refused=True)


# ---------------------------------------------------------------- articles that answer


def _by_article(hits: list[Hit]) -> dict[str, list[Hit]]:
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.node.metadata.get("doc"), []).append(hit)
    return groups


@dataclass
class _Article:
    doc: str
    day: dt.date | None
    hits: list[Hit]
    support: object
    quality: float


def _articles(
    answerer, question: str, query: str, hits: list[Hit], retriever, language: str
) -> list[_Article]:
    """Each article among ``hits`` with the sentences it would answer from, best first: by the
    answerer's probability that its best sentence answers (bot/answering/scoring.py)."""
    found = []
    for doc, group in _by_article(hits).items():
        support = answerer.support(question, query, group, retriever, language)
        if not support.relaxed:
            continue
        found.append(_Article(doc, published(group[0]), group, support, support.best))
    return sorted(found, key=lambda a: -a.quality)


def _answers(answerer, support, relaxed: bool = False) -> bool:
    """Whether one article's sentences answer: at the answer threshold, or (``relaxed``, once the
    question's time has narrowed the articles down) at the lower threshold a model would be given
    the sources at."""
    return bool(support.relaxed if relaxed else support.chosen)


def _sentences(support) -> list:
    return support.chosen or support.relaxed


def _newest(answerer, articles: list[_Article], today: dt.date) -> list[_Article]:
    """When at least one article answers (at the answer threshold), every article that answers at
    the lower threshold a model would be given the sources at, newest first; undated ones last;
    none published after ``today`` (TODAY set in the past) unless only those answer. Both
    thresholds are the fitted ones: a newer report that answers in fewer of the question's words
    ("Marta Lysenko, Ukraine's lead negotiator, said …") still supersedes an older, wordier one."""
    articles = [a for a in articles if a.day is None or a.day <= today] or articles
    if not any(_answers(answerer, a.support) for a in articles):
        return []
    close = [a for a in articles if _answers(answerer, a.support, True)]
    return sorted(close, key=lambda a: (a.day is not None, a.day or dt.date.min, a.quality), reverse=True)


def _value_test(question: str, articles: list[_Article]):
    """The test a sentence passes when it gives the value a question follows: for "the number of
    inspection vessels" a count of them ("three inspection vessels", not "112 ships had been
    cleared" beside them), for "the fee" a sum, "the host city" a place, "the mediator" a person
    (one the articles show acting). None when the question follows no such value."""
    kind, stems = followed(question), counted(question)
    if stems:
        return lambda text: counts(text, stems)
    if kind is None:
        return None
    candidates = [c for a in articles for c in a.support.candidates]
    names = actors(c.text for c in candidates) if kind is Detail.PERSON else frozenset()
    return lambda text: has_detail(text, kind, question, names)


def _counting(question: str, articles: list[_Article]) -> list[_Article]:
    """For "how many inspection vessels …?", "the latest fee", the articles whose answer gives the
    value followed (all when none does, or the question follows none): the newest report may
    count something else ("264 ships cleared") or speak of the fee without a sum."""
    gives = _value_test(question, articles)
    if gives is None:
        return articles
    return [a for a in articles if any(gives(c.text) for c in _sentences(a.support))] or articles


def _compose(question: str, chosen: list) -> Answer:
    """The chosen sentences in article order, each with its citation (as the answerer composes)."""
    order: dict[str, int] = {}
    for cand in chosen:
        order.setdefault(cand.hit.node.metadata.get("doc"), len(order))
    chosen = sorted(chosen, key=lambda c: (order[c.hit.node.metadata.get("doc")], c.start))
    citations = [_citation(n, cand) for n, cand in enumerate(chosen, start=1)]
    text = " ".join(with_markers(c.quote, [c.n]) for c in citations)
    return Answer(question=question, answer=text, refused=False, citations=citations)


# ---------------------------------------------------------------- the decision


_MONTH_NAMES = "January February March April May June July August September October November December".split()


def _told_later(period: tuple[dt.date, dt.date], hits: list[Hit]) -> bool:
    """Whether the hits tell of a year or a month no article was published in ("MLB fined the
    Astros in 2017", in a report of 2023): then it is when the event was, not the report. (Only
    a period before the newest article: what a report expects of a later one is no account of it.)"""
    start, end = period
    if start.year != end.year:
        return False
    year = str(start.year)
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31):
        written = re.compile(rf"\b{year}\b")
    elif start.month == end.month and start.day == 1 and (end + dt.timedelta(days=1)).day == 1:
        # The month as a name, written with its year ("in May 2017", "on Sept. 5, 2017"), in
        # capitals: "prices may rise" names no month.
        name = _MONTH_NAMES[start.month - 1]
        forms = "|".join([name, name[:3] + r"\.?"] + ([r"Sept\.?"] if start.month == 9 else []))
        written = re.compile(rf"\b(?:{forms})(?:\s+\d{{1,2}},?)?\s+{year}\b")
    else:
        return False
    return any(written.search(hit.node.text) for hit in hits)


def arrange(
    answerer, question: str, query: str, retriever, *, today=None, language: str = "en", search=None
) -> Timed:
    """Read time in ``query`` and choose the hits to answer from (or answer/refuse outright).
    ``search(text, top_k)`` retrieves (default: the retriever's hybrid search)."""
    if search is None:

        def search(text: str, top_k: int) -> list[Hit]:
            return retriever.search(text, top_k=top_k)

    config = answerer.config
    k = max(config.chunks_considered, retriever.config.top_k)
    today = parse_today(today if today is not None else getattr(answerer, "today", None))
    span = corpus_range(retriever)
    first, last = span if span else (None, None)
    # A date written without its year ("in March", "on 12 May") is the latest such date the
    # articles can speak of: not after today, nor after the newest article.
    when = read_when(query, today, language, yearless_base=min(today, last) if last else None)
    metadata = getattr(retriever, "metadata_index", None)
    # A question naming outlets or several dates (MultiHop-RAG style) is left to retrieval's own
    # boosts, as before: each of its parts may need another article, and the years it names are
    # usually background ("founded in 2015"), not the time it asks about.
    multi = metadata is not None and (
        len(metadata.source_mentions(query)) > 0 or len(re.findall(r"\b\d{4}\b", query)) > 1
    )
    if (
        when.recency
        and not (multi or when.period or when.before or when.after)
        and _news_only(query, when, language)
    ):
        # "what's the latest?", "any updates?": no topic, so the newest reports' opening sentences.
        answer = _latest_leads(question, retriever, today, language)
        if answer is not None:
            return Timed(query, [], when, answer, language=language)
    # With every article from one day, before/after and "latest" choose nothing ("after the call"
    # in a question about a single report is not a time to filter by).
    one_day = len(set(_days(retriever))) <= 1 and not (when.period or when.prediction)
    if multi or one_day or not (when.temporal or when.prediction):
        return Timed(query, search(query, k)[: config.chunks_considered], When(), language=language)
    if when.prediction:
        upto = _text(language, "upto", last=last.isoformat()) if last else ""
        return Timed(
            query, [], when, _refusal(question, _text(language, "prediction", upto=upto)), language=language
        )
    if span is None and (when.period or when.before or when.after):
        return Timed(query, [], when, _refusal(question, _text(language, "empty")), language=language)
    if when.period:
        start, end = when.period
        covered = any(start <= day <= end + _grace(when.period) for day in _days(retriever))
        if not covered and when.soft_period:  # "this year": a hint only
            when = dataclasses.replace(when, period=None, recency=not when.change_over_time)
        elif not covered:
            if end < last:  # a period before the newest report may be when an event it tells of was
                hits = search(query, k)
                if _told_later(when.period, hits):  # "fined in 2017", as a report of 2023 tells it
                    return Timed(query, hits[: config.chunks_considered], When(), language=language)
            message = _text(language, "range", first=first, last=last, what=when.period_label)
            return Timed(query, [], when, _refusal(question, message), language=language)
    if when.before and first >= when.before:
        message = _text(language, "before", first=first, last=last, date=when.before.isoformat())
        return Timed(query, [], when, _refusal(question, message), language=language)
    if when.after and last <= when.after:
        message = _text(language, "after", first=first, last=last, date=when.after.isoformat())
        return Timed(query, [], when, _refusal(question, message), language=language)

    terms = when.strip(query) or query
    hits = search(terms if content_terms(terms) or language != "en" else query, max(POOL, k))
    unbounded = hits
    focus = when.strip(query, event=True) or terms
    hits = _bounded(answerer, question, focus, hits, retriever, when, search, language)
    period_hits = []
    if when.period:
        start, end = when.period
        period_hits = [
            h for h in hits if (d := published(h)) is not None and start <= d <= end + _grace(when.period)
        ]
        if period_hits:
            hits = period_hits
    if period_hits and not content_terms(terms):  # "What happened in March 2025?": the period's reports
        return Timed(
            terms, period_hits, when, _period_leads(question, period_hits, language), language=language
        )
    if when.change_over_time:
        answer = _timeline(answerer, question, terms, hits, retriever, language)
        if answer is not None:
            return Timed(terms, hits, when, answer, language=language)
        when = dataclasses.replace(when, recency=True)
    timed = Timed(terms, hits[: config.chunks_considered], when, language=language)
    if when.recency:
        articles = _articles(answerer, question, terms, hits, retriever, language)
        ranked = _newest(answerer, _counting(question, articles), today)
        if ranked:  # the newest report that answers is the answer; the one before, its earlier state
            newest = ranked[0]
            # The earlier state is a second claim, so it meets the answer threshold itself: an
            # older report that only comes close (its dateline names a city, not the venue asked
            # for) would show users a line that doesn't answer.
            older = [
                a
                for a in ranked[1:]
                if a.day is not None
                and newest.day is not None
                and a.day < newest.day
                and _answers(answerer, a.support)
            ]
            if EARLIER_STATE and older:
                timed.earlier = [(older[0].day, _sentences(older[0].support)[0])]
            timed.hits = newest.hits
            timed.answer = timed.finish(_compose(question, _sentences(newest.support)))
    elif (when.period and period_hits) or (hits is not unbounded and when.event_span):
        # The time narrowed the articles down: the best of them answers with relaxed thresholds,
        # its terms without the event that only dated the question.
        best = _articles(answerer, question, focus, hits, retriever, language)
        before_event = when.before_event and hits is not unbounded
        ranked = _newest(answerer, _counting(question, best), today) if before_event else []
        if ranked:  # "who mediated before Keller took over?": the state just before, its newest report
            timed.hits = ranked[0].hits
            timed.answer = timed.finish(_compose(question, _sentences(ranked[0].support)))
        elif best and not _answers(answerer, best[0].support) and _answers(answerer, best[0].support, True):
            timed.hits = best[0].hits
            timed.answer = timed.finish(_compose(question, best[0].support.relaxed))
    return timed


def _days(retriever) -> list[dt.date]:
    days = []
    for value in getattr(getattr(retriever, "metadata_index", None), "rows_by_date", {}) or {}:
        try:
            days.append(dt.date.fromisoformat(value))
        except ValueError:
            continue
    return days


def _event_day(search, event: str, answerer=None, retriever=None) -> dt.date | None:
    """The day of an event: the earliest report among the articles that match it best, by the
    search and by the sentence model (its best match joins them: "the suspension" is a word of a
    later report's "pre-suspension peak" to the keyword search, and of the report "Black Sea
    corridor suspended after drone hits inspection ship" to the sentence model)."""
    hits = search(event, 5)
    if not hits:
        return None
    best = hits[0].score
    matching = [h for h in hits if h.score >= 0.8 * best]
    library = getattr(answerer, "library", None)
    if library is not None and hasattr(retriever, "semantic_search"):
        matching += retriever.semantic_search(library.embed_sentence_query(event), top_k=1)
    days = [d for h in matching if (d := published(h)) is not None]
    return min(days) if days else None


def _bounded(
    answerer, question: str, terms: str, hits: list[Hit], retriever, when: When, search, language: str
) -> list[Hit]:
    """Only the hits published before/after the question's bound, if those still answer."""
    before, afters = when.before, [when.after]
    if when.before_event and before is None:
        before = _event_day(search, when.before_event, answerer, retriever)
    if when.after_event and when.after is None:
        day = _event_day(search, when.after_event, answerer, retriever)
        # What followed is told by later reports, else by the event's own report.
        afters = [day, day - dt.timedelta(days=1)] if day else [None]
    for after in afters:
        if before is None and after is None:
            return hits
        kept = [
            h
            for h in hits
            if (d := published(h)) is not None
            and (before is None or d < before)
            and (after is None or d > after)
        ]
        if kept and any(
            _answers(answerer, a.support, True)
            for a in _articles(answerer, question, terms, kept, retriever, language)
        ):
            return kept
    return hits


def _timeline(
    answerer, question: str, terms: str, hits: list[Hit], retriever, language: str
) -> Answer | None:
    """One cited line per report date, oldest first: ``- 2025-02-11: <sentence> [1].``"""
    articles = _articles(answerer, question, terms, hits, retriever, language)
    # Relaxed: a point followed over time is named by words common to every report on it.
    if not any(_answers(answerer, a.support, True) for a in articles):
        return None
    # A line per report that says something about it: at least CHANGE_MARGIN of the best report's
    # probability, and past the relaxed threshold itself.
    best = max(a.quality for a in articles)
    chosen = [
        a
        for a in articles
        if a.day is not None and a.quality >= CHANGE_MARGIN * best and _answers(answerer, a.support, True)
    ][:MAX_TIMELINE]
    lines_of = {a.doc: _sentences(a.support)[0] for a in chosen}
    # Each line gives the value followed; a report that gives none has no line (once two do).
    valued = _valued_lines(answerer, question, chosen)
    valued_days = len({a.day for a in chosen if a.doc in valued})
    if valued_days == 1:  # one report gives the value: it is answered as the latest state
        return None
    if valued_days >= 2:
        chosen = [a for a in chosen if a.doc in valued]
        lines_of = valued
    by_day: dict[dt.date, _Article] = {}
    for article in chosen:  # best first: one line per date
        by_day.setdefault(article.day, article)
    if len(by_day) < 2:
        return None
    lines = [_text(language, "timeline")]
    citations = []
    for day in sorted(by_day):
        cand = lines_of[by_day[day].doc]
        citation = _citation(len(citations) + 1, cand)
        citations.append(citation)
        lines.append(f"- {day.isoformat()}: {with_markers(citation.quote, [citation.n])}")
    return Answer(question=question, answer="\n".join(lines), refused=False, citations=citations)


def _valued_lines(answerer, question: str, articles: list[_Article]) -> dict[str, object]:
    """Per article, its likeliest sentence giving the value a change question follows
    (``_value_test``). Empty when the question follows no such value."""
    gives = _value_test(question, articles)
    if gives is None:
        return {}
    floor = answerer.calibration.llm_threshold
    lines = {}
    for article in articles:
        own = [c for c in article.support.candidates if c.probability >= floor and gives(c.text)]
        if own:
            lines[article.doc] = max(own, key=lambda c: c.probability)
    return lines


@dataclass
class _Sentence:  # the shape of the answerer's sentence candidates, for ``_citation``
    hit: Hit
    start: int
    end: int


# Words that ask for news without naming a topic ("any news on the talks?", «какие последние
# новости?»): in a bot about these negotiations, "the talks" are no topic of their own.
_NEWS_WORDS = (
    "news update updates development developments happening going situation anything new story stories talks "
    "negotiations peace process какие какая что есть новости новость новое нового переговоры переговорах "
    "які яка що є новини новина нове нового переговори переговорах"
)


def _news_only(query: str, when: When, language: str) -> bool:
    """Whether the question asks for the latest news without naming what about."""
    generic = set(content_terms(_NEWS_WORDS))
    return not [t for t in content_terms(when.strip(query)) if t not in generic]


def _latest_leads(question: str, retriever, today: dt.date, language: str) -> Answer | None:
    """The opening sentence of each report of the newest day (not after ``today``)."""
    articles = retriever.version.articles
    days = {doc: day for doc in articles if (day := _day(articles[doc].get("published")))}
    days = {doc: day for doc, day in days.items() if day <= today} or days
    if not days:
        return None
    newest = max(days.values())
    nodes = [opening_node(retriever, doc) for doc in sorted(d for d, day in days.items() if day == newest)]
    hits = [Hit(node, 0.0, 0.0, 0.0) for node in nodes if node is not None]
    return _period_leads(question, hits, language) if hits else None


def _period_leads(question: str, hits: list[Hit], language: str) -> Answer:
    """A question that names only a period: the opening sentence of each report of the period,
    oldest first, one cited line per date (a dateline that is a sentence of its own, "News
    Country, Washington.", is not the report's opening sentence)."""
    firsts: dict[str, _Sentence] = {}
    for hit in hits:
        sentences = node_sentences(hit.node)
        base = hit.node.start_char_idx or 0
        if len(sentences) > 1 and DATELINE.fullmatch(
            hit.node.text[sentences[0][0] - base : sentences[0][1] - base]
        ):
            sentences = sentences[1:]
        doc = hit.node.metadata.get("doc")
        if sentences and (doc not in firsts or sentences[0][0] < firsts[doc].start):
            firsts[doc] = _Sentence(hit, *sentences[0])
    ordered = sorted(firsts.values(), key=lambda s: (published(s.hit), s.start))[:MAX_TIMELINE]
    citations = [_citation(n, s) for n, s in enumerate(ordered, start=1)]
    lines = [f"- {c.published}: {with_markers(c.quote, [c.n])}" for c in citations]
    if len(lines) == 1:
        return Answer(
            question, _text(language, "as_of", date=citations[0].published) + lines[0][14:], False, citations
        )
    return Answer(question, "\n".join(lines), False, citations)
