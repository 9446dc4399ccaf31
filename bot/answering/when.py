"""What a question says about time: "latest"/"now" (recency), a period ("in March", "June 2025",
"on 12 May", "last week", "two months ago"), "before/after <date or event>", "how did X change"
(change over time) and "will X happen" (a prediction). No Discord, no index: text in, ``When`` out.

Date expressions themselves are read by ``dateparser`` (relative ones against ``today``, which
``TODAY=YYYY-MM-DD`` fixes for tests and evaluation); its matches are filtered, because it also
reads "now", "may" the verb, bare numbers ("the 20 swaps") and words next to a month as dates.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from dataclasses import dataclass, field

Period = tuple[dt.date, dt.date]

_RECENCY = re.compile(
    r"\b(?:(?:latest|newest)(?:\s+(?:news|updates?|developments?|information|reports?|situation))?|most\s+recent(?:ly)?|recent(?:ly)?|now|right\s+now|nowadays|currently|current|"
    r"still|so\s+far|these\s+days|today|at\s+present|presently|at\s+the\s+moment|as\s+of\s+now|"
    r"to\s+date|any\s*more|any\s+longer|as\s+it\s+stands|lately|any\s+(?:news|updates?)|what['’]?s\s+new|"
    r"anything\s+new|что\s+нового|що\s+нового|"
    r"сейчас|теперь|сегодня|в\s+настоящее\s+время|последн\w*|по\s+состоянию\s+на\s+сегодня|"
    r"на\s+(?:данный|текущий|сегодняшний)\s+(?:момент|день)|до\s+сих\s+пор|пока\s+что|"
    r"зараз|тепер|сьогодні|наразі|останн\w*|на\s+(?:даний|поточний|цей|сьогоднішній)\s+(?:момент|день)|досі|"
    # "how did it end up?", "what was eventually agreed?", «что в итоге решили?», «що зрештою
    # вирішили?», "where do things stand?", «какие новости о …?»: the newest report's state
    r"eventually|ultimately|in\s+the\s+end|end(?:ed)?\s+up|at\s+this\s+point|as\s+things\s+stand|"
    r"where\s+(?:do|does)\s+(?:things|it|matters)\s+stand|state\s+of\s+play|"
    r"в\s+итоге|в\s+конце\s+концов|в\s+конечном\s+(?:итоге|счете|счёте)|"
    r"ныне|нынче|зрештою|врешті(?:-|\s+)решт|у\s+підсумку|в\s+підсумку|нині|"
    r"(?:какие|есть\s+ли|які|чи\s+є)\s+(?:нов\w+\s+)?(?:новост\w*|новин\w*))\b",
    re.I,
)
_CHANGE = re.compile(
    r"\bover\s+time\b|\btimeline\b|\bevolution\s+of\b|\bhistory\s+of\b|\bchronolog\w*|"
    r"\bhow\s+(?:has|have|had|did|do|does)\b.{0,120}?\b(?:chang\w*|evolv\w*|develop\w*|shift\w*|mov\w*|grow\w*|"
    r"progress\w*)\b|\b(?:changed|evolved|shifted)\s+(?:since|over|from|between|through)\b|"
    r"\bhow\s+(?:\w+\s+){0,6}changed\b|"
    r"\bкак\s+(?:\w+\s+){0,6}(?:менял|изменил)\w*|\bяк\s+(?:\w+\s+){0,6}(?:змін|змінювал)\w*",
    re.I | re.S,
)
# "The next round" is the one the newest report speaks of, not February's plans; its words stay
# in the question (they are what it asks about).
_NEXT_MEETING = re.compile(
    r"\bnext\s+(?:round|session|meeting|summit|sitting)s?\b|\bследующ\w+\s+(?:раунд|встреч|сесси|заседани)\w*"
    r"|\bнаступн\w+\s+(?:раунд|зустріч|сесі|засіданн)\w*",
    re.I,
)
_HAPPEN = re.compile(r"\b(?:happen(?:ed|ing|s)?|occur(?:red|ring|s)?|took\s+place)\b", re.I)
_SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11), "winter": (12, 2)}
_SEASON = re.compile(
    r"\b(?:(?:in|during|the|this|last|early|late|mid)\s+)+(spring|summer|autumn|fall|winter)(?:\s+(?:of\s+)?((?:19|20)\d\d))?\b"
    r"|\b(spring|summer|autumn|winter)\s+(?:of\s+)?((?:19|20)\d\d)\b",
    re.I,
)
# «Летом 2025 года», «этой осенью», «навесні», «влітку 2025 року»: the same in Russian and Ukrainian.
_CYR_SEASONS = {
    **dict.fromkeys("весной весна весну весною навесні".split(), "spring"),
    **dict.fromkeys("летом лето влітку літом літо".split(), "summer"),
    **dict.fromkeys("осенью осень восени осінню осінь".split(), "autumn"),
    **dict.fromkeys("зимой зима зиму взимку зимою".split(), "winter"),
}
_CYR_SEASON = re.compile(
    r"\b(?:(?:этой|этим|эту|этот|прошлой|прошлым|цієї|цього|цю|минулої|минулого)\s+)?"
    r"(" + "|".join(_CYR_SEASONS) + r")\b(?:\s+((?:19|20)\d\d)(?:\s+(?:года|году|року))?\b)?",
    re.I,
)
_CHANGE_WORDS = re.compile(
    r"\b(?:over\s+time|chang\w*|evolv\w*|develop\w*|shift\w*|timeline|chronolog\w*)\b", re.I
)
_PREDICTION = re.compile(
    r"^\s*(?:will|shall|is\s+\S+(?:\s+\S+){0,4}\s+going\s+to|are\s+\S+(?:\s+\S+){0,4}\s+going\s+to)\b|"
    r"\bwhat\s+will\s+happen\b|\bwhat\s+happens\s+next\b|\bwho\s+will\s+win\b|"
    r"^\s*(?:(?:can|could|would)\s+you\s+|please\s+)?(?:predict|forecast)\b|"
    r"\b(?:what|how)\s+(?:is|are)\s+the\s+(?:chances|odds|prospects)\s+(?:of|that|for)\b|"
    r"\bhow\s+likely\s+is\b.{0,80}\bto\b|"
    r"^\s*будет\s+ли\b|\bпрогноз\w*|^\s*чи\s+буде\b|\bпередбач\w*|"
    # "what will they decide in Varna?", «что решат в Варне?», «що буде далі?», «чем закончится …?»
    r"\bwhat\s+will\s+\w+(?:\s+\w+){0,2}\s+(?:decide|agree|sign)\b|"
    r"\b(?:что|що)\s+(?:будет|буде)\s+(?:дальше|далі|с|з|после|після)\b|"
    r"\b(?:что|що)\s+(?:решат|вирішать|произойд[её]т|случится|станеться|відбудеться)\b|"
    r"\bчем\s+законч\w*ся\b|\bчим\s+закінч\w*ся\b",
    re.I,
)
# («до того, как переговоры переехали …»: the event is the clause after "как", not "того")
_BEFORE = re.compile(
    r"\b(?:before|prior\s+to|until|earlier\s+than|(?:до\s+того|перед\s+тем),?\s+(?:как|як)|до|перед)\s+", re.I
)
_AFTER = re.compile(
    r"\b(?:after|since|following|later\s+than|(?:после|після)\s+того,?\s+(?:как|як)|после|"
    r"с\s+тех\s+пор\s+как|після|відколи)\s+",
    re.I,
)
# What a date match must not be on its own: words dateparser reads as today or as a month.
_BEFORE_END = re.compile(r"(?:" + _BEFORE.pattern + r")$", re.I)
_AFTER_END = re.compile(r"(?:" + _AFTER.pattern + r")$", re.I)
_NOT_A_DATE = re.compile(
    r"^(?:now|right now|today|currently|current|present|the moment|recent|recently|latest|so far|"
    r"сейчас|сегодня|зараз|сьогодні|наразі|теперь|тепер)$",
    re.I,
)
_PREPOSITIONS = re.compile(
    r"^(?:(?:in|on|at|of|during|since|before|after|until|by|from|to|about|around|for|the|early|late|mid|"
    r"в|во|на|у|с|до|после|після|з|від)\s+)+",
    re.I,
)
_AFTER_PREPOSITION = re.compile(
    r"\b(?:in|on|during|since|before|after|until|by|from|of|prior\s+to|в|во|на|у|с|до|после|після|з|від)\s+$",
    re.I,
)
_MONTH_WORD = re.compile(
    r"^(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?$",
    re.I,
)
_RELATIVE = re.compile(
    r"\b(?:ago|last|past|previous|this|yesterday|week|month|year|назад|прошл\w*|минул\w*|цього|этого|вчора|вчера)\b",
    re.I,
)
_SOFT = re.compile(r"\b(?:this|этом|этого|этой|текущем|цього|цьому|поточному)\b", re.I)
_MONTH_NAMES = [calendar.month_name[i] for i in range(13)]


@dataclass(frozen=True)
class When:
    """What a question says about time (all empty: it says nothing)."""

    recency: bool = False  # "latest", "now", "still", "these days": the newest report that answers
    period: Period | None = None  # the articles of this period ("in April 2025", "last week")
    period_label: str = ""  # the period as the answer names it ("April 2025", "2025-05-12")
    soft_period: bool = False  # "this year": a hint, not a demand (dropped when the corpus misses it)
    before: dt.date | None = None  # "before June 2025": published before this day
    after: dt.date | None = None  # "after March 2025": published after this day
    before_event: str | None = None  # "before the shelling": resolved against the articles
    after_event: str | None = None
    event_span: tuple[int, int] | None = None  # where "before/after <event>" is written
    change_over_time: bool = False  # "how did X change": one cited line per date, oldest first
    prediction: bool = False  # "will X happen": the articles report, they don't forecast
    spans: tuple[tuple[int, int], ...] = field(default=())  # the time words, to leave out of the terms

    @property
    def temporal(self) -> bool:
        return bool(
            self.recency
            or self.period
            or self.before
            or self.after
            or self.before_event
            or self.after_event
            or self.change_over_time
        )

    def strip(self, text: str, event: bool = False) -> str:
        """``text`` (the question this was read from) without its time words (and, with
        ``event``, without its "before/after <event>" clause)."""
        chars = list(text)
        for a, b in self.spans + ((self.event_span,) if event and self.event_span else ()):
            chars[a:b] = " " * (b - a)
        return " ".join("".join(chars).split())


def parse_today(value: str | dt.date | None) -> dt.date:
    """``TODAY`` as a date: a date, ``YYYY-MM-DD``, or empty for the real date."""
    if isinstance(value, dt.date):
        return value
    if value and str(value).strip():
        return dt.date.fromisoformat(str(value).strip())
    return dt.date.today()


def _languages(language: str, text: str = "") -> list[str]:
    """dateparser's languages: the question's, English, and Russian/Ukrainian for Cyrillic text."""
    first = language if language in ("en", "ru", "uk") else "en"
    cyrillic = ["ru", "uk"] if re.search(r"[а-яёіїєґ]", text, re.I) else []
    ukrainian = ["uk"] if re.search(r"[іїєґ]", text, re.I) else []  # its letters: its month names first
    return list(dict.fromkeys([*ukrainian, first, "en", *cyrillic]))


@functools.lru_cache(maxsize=8)
def _parser(languages: tuple[str, ...], today: dt.date):
    from dateparser.date import DateDataParser

    return DateDataParser(languages=list(languages), settings=_settings(today))


def _settings(today: dt.date) -> dict:
    return {
        "RELATIVE_BASE": dt.datetime(today.year, today.month, today.day, 12),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }


def _plausible(text: str, head: str = "") -> bool:
    """Whether a dateparser match is a date the question means (not "now", "May the", "20")."""
    core = _PREPOSITIONS.sub("", text.strip().lower()).strip(" ,.")
    if not core or _NOT_A_DATE.match(core):
        return False
    words = core.split()
    lead = text.lower()[: max(0, text.lower().find(core))]  # the words dateparser took before the date
    if _RELATIVE.search(core):
        return True
    has_year = any(re.fullmatch(r"(?:19|20)\d\d(?:-\d\d(?:-\d\d)?)?", w.strip(",.")) for w in words)
    has_month = any(_MONTH_WORD.match(w.strip(",.")) for w in words) or bool(re.search(r"[а-яіїє]", core))
    if has_year:
        # A year alone is a time after a preposition ("in 2024"), not a name ("the 2024 Super Bowl").
        return len(words) > 1 or bool(_AFTER_PREPOSITION.search(head + lead))
    if has_month:
        # A month alone is a date after a preposition ("in March"), not as a verb ("May the talks…").
        if len(words) == 1 and words[0].strip(".").lower() == "may":
            return bool(_AFTER_PREPOSITION.search(head + lead))
        return not any(w in ("the", "a", "an", "we", "i", "they", "it") for w in words)
    return False


# "В январе", «у березні», «на прошлой неделе», «в этом году»: after "in" Russian and Ukrainian
# put months and periods in the locative, which dateparser does not read (it reads «січень 2025»,
# «5 января», «минулого тижня»): such questions were read as the whole year or as no time at all.
# They are given to dateparser as forms it reads.
_MONTH_CASES = dict(
    zip(
        """январе феврале марте апреле мае июне июле августе сентябре октябре ноябре декабре
        січні лютому березні квітні травні червні липні серпні вересні жовтні листопаді грудні""".split(),
        """январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь
        січень лютий березень квітень травень червень липень серпень вересень жовтень листопад грудень""".split(),
    )
) | dict(  # the dative: «к августу 2025 года», "by August 2025"
    zip(
        "январю февралю марту апрелю маю июню июлю августу сентябрю октябрю ноябрю декабрю".split(),
        "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь".split(),
    )
)
_PERIOD_UNITS = (("неделе", "week"), ("месяце", "month"), ("году", "year"),
                 ("тижні", "week"), ("місяці", "month"), ("році", "year"))  # fmt: skip
_LOCATIVE_PERIODS = {
    f"{word} {unit}": f"{which} {english}"
    for which, words in (("this", "этой этом текущем цьому поточному"), ("last", "прошлой прошлом минулому"))
    for word in words.split()
    for unit, english in _PERIOD_UNITS
}
_FOR_DATEPARSER = _MONTH_CASES | _LOCATIVE_PERIODS
_UNREAD = re.compile(
    r"\b(?:" + "|".join(sorted(map(re.escape, _FOR_DATEPARSER), key=len, reverse=True)) + r")\b", re.I
)


def _readable(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with the months and periods dateparser does not read (``_FOR_DATEPARSER``) in forms
    it reads, and for each character of the result the span of ``text`` it stands for (a replaced
    word's: the whole word)."""
    out: list[str] = []
    origin: list[tuple[int, int]] = []
    position = 0
    for match in _UNREAD.finditer(text):
        out.append(text[position : match.start()])
        origin += [(i, i + 1) for i in range(position, match.start())]
        word = _FOR_DATEPARSER[match.group(0).lower()]
        out.append(word)
        origin += [match.span()] * len(word)
        position = match.end()
    out.append(text[position:])
    origin += [(i, i + 1) for i in range(position, len(text))]
    return "".join(out), origin


def _date_matches(question: str, today: dt.date, language: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of the date expressions in the question, adjacent ones merged
    ("June" + "2025" → "June 2025")."""
    from dateparser.search import search_dates

    searched, origin = _readable(question)
    try:
        found = (
            search_dates(searched, languages=_languages(language, searched), settings=_settings(today)) or []
        )
    except Exception:  # dateparser raises on odd input; a question without dates is the safe reading
        return []
    spans: list[list] = []
    searched_position = 0
    for found_text, _ in found:
        at = searched.find(found_text, searched_position)
        if at < 0 or not found_text:
            continue
        searched_position = at + len(found_text)
        start, position = origin[at][0], origin[searched_position - 1][1]
        text = question[start:position]
        if spans and re.fullmatch(r"[\s,]*(?:of\s+)?", question[spans[-1][1] : start]):
            spans[-1][1] = position
            spans[-1][2] = question[spans[-1][0] : position]
        else:
            spans.append([start, position, text])
    return [(a, b, t) for a, b, t in spans if _plausible(t, question[:a])]


def _period(text: str, today: dt.date, language: str) -> tuple[Period, str] | None:
    core = _readable(_PREPOSITIONS.sub("", text.strip()).strip(" ,.?"))[0]
    try:
        data = _parser(tuple(_languages(language, core)), today).get_date_data(core)
    except Exception:  # dateparser raises on odd input: then it is no date
        return None
    if data is None or data.date_obj is None:
        return None
    day = data.date_obj.date()
    granularity = data.period or "day"
    if granularity == "year":
        return (dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)), str(day.year)
    if granularity == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return (
            (dt.date(day.year, day.month, 1), dt.date(day.year, day.month, last)),
            f"{_MONTH_NAMES[day.month]} {day.year}",
        )
    if granularity == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return (monday, monday + dt.timedelta(days=6)), f"the week of {monday.isoformat()}"
    return (day, day), day.isoformat()


def _season_period(match: re.Match, today: dt.date) -> tuple[Period, str]:
    if match.re is _CYR_SEASON:
        name, year_text = _CYR_SEASONS[match.group(1).lower()], match.group(2)
    else:
        name, year_text = (match.group(1) or match.group(3)).lower(), match.group(2) or match.group(4)
    first, last = _SEASONS[name]
    if year_text:
        year = int(year_text)
    else:  # the latest such season that has begun
        year = today.year if dt.date(today.year, first, 1) <= today else today.year - 1
    end_year = year + 1 if last < first else year
    end = dt.date(end_year, last, calendar.monthrange(end_year, last)[1])
    return (dt.date(year, first, 1), end), f"{'autumn' if name == 'fall' else name} {year}"


def read_when(
    question: str,
    today: str | dt.date | None = None,
    language: str = "en",
    yearless_base: dt.date | None = None,
) -> When:
    """Read what ``question`` says about time, relative dates resolved against ``today`` and dates
    written without a year ("in March") against ``yearless_base`` (default: ``today``)."""
    today = parse_today(today)
    spans: list[tuple[int, int]] = []
    recency = False
    for match in _RECENCY.finditer(question):
        recency = True
        spans.append(match.span())
    recency = recency or bool(_NEXT_MEETING.search(question))
    change = bool(_CHANGE.search(question))
    if change:
        spans += [m.span() for m in _CHANGE_WORDS.finditer(question)]
    prediction = bool(_PREDICTION.search(question))
    period = None
    label = ""
    soft = False
    before = after = None
    before_event = after_event = None
    event_span = None
    season = _SEASON.search(question) or _CYR_SEASON.search(question)
    if season:  # dateparser has no seasons: "in the summer of 2025", "autumn 2024", "this spring"
        period, label = _season_period(
            season, today if _SOFT.search(season.group(0)) else yearless_base or today
        )
        soft = bool(_SOFT.search(season.group(0)))
        spans.append(season.span())
    for start, end, text in _date_matches(question, today, language):
        yearless = not re.search(r"\b(?:19|20)\d\d\b", text) and not _RELATIVE.search(text)
        resolved = _period(text, (yearless_base or today) if yearless else today, language)
        if resolved is None or (season and start < season.end() and season.start() < end):
            continue
        spans.append((start, end))
        head = question[max(0, start - 24) : start] + " "
        bound = _PREPOSITIONS.sub("", text.strip().lower())
        word = text.strip().lower()[: len(text.strip()) - len(bound)] if bound else ""
        if _BEFORE_END.search(head) or _BEFORE.match(word):
            before = resolved[0][0]
        elif _AFTER_END.search(head) or _AFTER.match(word):
            # "since March": from March on; "after March": once March is over.
            since = re.search(r"(?:since|с|відколи)\s+$", head, re.I) or word.startswith("since")
            after = resolved[0][0] - dt.timedelta(days=1) if since else resolved[0][1]
        elif period is None:
            period, label = resolved
            soft = bool(_SOFT.search(text))
    if before is None and after is None:
        # "before/after <an event>": the event's words up to the end of the clause.
        for pattern, is_before in ((_BEFORE, True), (_AFTER, False)):
            match = pattern.search(question)
            if match is None:
                continue
            event = re.split(r"[?,;.!]", question[match.end() :], maxsplit=1)[0].strip()
            if len(event.split()) >= 1 and not any(a <= match.end() < b for a, b in spans):
                if is_before:
                    before_event = event
                else:
                    after_event = event
                event_span = (match.start(), match.end() + len(event))
                break
    if period or before or after or before_event or after_event or recency or change:
        spans += [m.span() for m in _HAPPEN.finditer(question)]  # "what happened in March": time, not content
    return When(
        recency=recency and not (period and not soft),
        period=period,
        period_label=label,
        soft_period=soft,
        before=before,
        after=after,
        before_event=before_event,
        after_event=after_event,
        event_span=event_span,
        change_over_time=change,
        prediction=prediction,
        spans=tuple(sorted(spans)),
    )
