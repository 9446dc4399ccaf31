"""What kind of detail a question asks for, and whether a sentence contains one.

"When did …" is not answered by a sentence without a date, "how many …" not by one without a
number: a related sentence that lacks the asked-for detail is a wrong answer, however similar it
reads. The kinds are few and recognised by question words in English, Russian and Ukrainian.
"""

from __future__ import annotations

import enum
import re

from bot.answering.about import without_dateline
from bot.answering.who import CALENDAR_WORDS, capitalised_keys, name_key


class Detail(enum.Enum):
    DATE = "date"  # "what date", "which day": a calendar date, day, month or year
    TIME = "time"  # "when": a date, or a time word ("immediately", "after the call")
    MONEY = "money"  # "how much did it cost", "what's his salary": a sum of money
    NUMBER = "number"
    PLACE = "place"
    PERSON = "person"


# "what's the exact city", "which specific day", "what was the number": the words people put
# between the question word and the thing asked for.
_FILLER = (
    r"(?:['’]?s|\s+is|\s+was|\s+are|\s+were)?(?:\s+(?:the|a|an))?"
    r"(?:\s+(?:exact|specific|precise|actual|particular|real|same|final|total|overall))?\s+"
)
# "How much" asks for a sum when its own clause is about money ("how much did it cost", "how much
# is she gonna make") — not "how much time did they spend", "how much progress was made".
_MONEY_VERBS = (
    r"money|cost|costs|costing|pay|pays|paid|paying|spend|spends|spent|spending|earn|earns|earned|earning|"
    r"make|makes|made|making|raise|raised|raising|worth|charge|charges|charged|fine|fined|"
    r"salary|budget|gross|grossed|grossing|invest|invested|investing|funding|valued|valuation|revenue|fee"
)
_NOT_MONEY = r"progress|time|longer|more|of|land|territory|ground|damage|effort|support|influence|power|say"

# Checked in this order: "how many days" asks for a number, "what date" for a date.
_ASKS: list[tuple[Detail, re.Pattern]] = [
    (
        Detail.MONEY,
        re.compile(
            rf"\bhow much\b(?!\s+(?:{_NOT_MONEY})\b)(?=[^,;?]*\b(?:{_MONEY_VERBS})\b)"
            rf"|\bwhat{_FILLER}(?:\w+\s+)?(?:price|cost|salary|budget|fee|fine|valuation|revenue|payout|pay)\b"
            # ("the strategic value of Bakhmut" is no sum)
            r"|\b(?:dollar|euro|market|cash|face|net|estimated)\s+(?:value|amount|figure|total)\b"
            r"|\bhow many (?:dollars|euros)\b"
            r"|\b(?:сколько|скок|скока)\s+(?:стоит|стоил\w*|стоят|стоить|денег|заплат\w*|заработ\w*|потрат\w*)"
            r"|\bскільки\s+(?:кошту\w*|грошей|заплат\w*|заробля\w*|заробив\w*|заробил\w*|витрат\w*)"
            r"|\bза (?:сколько|скок|скока|скільки)\b(?!\s+(?:дн|час|год|лет|рок|мин|хвил|недел|тиж|месяц|місяц|секунд))"
            # (an adjective between: "какая годовая выручка", not "какой процент бюджета")
            # ("яка зараз плата за прохід": a word of time may come between)
            r"|\b(?:какая|какой|каков\w*|яка|який|яку|какую)\s+(?:(?:сейчас|теперь|зараз|тепер|нині)\s+)?"
            r"(?:\w+(?:ая|ой|ий|ый|ую|яя|а|ій)\s+)?(?:зарплат\w*|выручк\w*|виручк\w*|"
            r"стоимост\w*|вартіст\w*|цен\w*|ціна|ціну|бюджет\w*|плат[аиуеі]|сбор|збір|мито|пошлин\w*|тариф\w*|"
            r"сумм[аыуе]|сум[аиуі])",
            re.I,
        ),
    ),
    (
        Detail.NUMBER,
        re.compile(
            rf"\bhow (many|much|long|big|large|wide|far|tall|heavy|deep)\b|\bwhat{_FILLER}(number|percentage|share|amount|score|total|count"
            r"|tally|figure|rate|age)\b|\bhow many\b"
            # a measure: "what's the tonnage cap?", "what is the size limit for ships?"
            rf"|\bwhat{_FILLER}(?:\w+\s+)?(?:size|limit|cap|width|length|height|depth|weight|distance|tonnage|radius"
            r"|maximum|minimum)\b"
            # ("how did the number of X change", not "why did the number of ships drop?")
            r"|^(?!\s*(?:who|whom|when|where|why|did|does|do|has|have|is|are|was|were)\b).*?\bthe (?:number|count|tally) of\b"
            r"|\bсколько\b|\bскок\b|\bскока\b|\bскільки\b|\bкакое количество\b|\bяка кількість\b"
            # «какой размер зоны?», «який ліміт тоннажу?», «какого размера …»: a measure
            r"|\b(?:какой|каков\w*|какая|какую|який|яка|яку)\s+(?:\w+\s+)?(?:размер|розмір|лимит|ліміт|ширин\w*|"
            r"длин\w*|довжин\w*|площад\w*|процент|відсоток)\b|\bкакого размера\b|\bякого розміру\b",
            re.I,
        ),
    ),
    (
        Detail.DATE,
        re.compile(
            rf"\b(what|which){_FILLER}(date|day|year|month)\b|\bкакого числа\b"
            r"|\bякого числа\b|\bв какой день\b|\bв який день\b|\bв каком году\b|\bв якому році\b"
            r"|\bкакая дата\b|\bяка дата\b|\bна (?:какую|яку) дату\b|\bв каком месяце\b|\bв якому місяці\b"
            r"|\bякого місяця\b",
            re.I,
        ),
    ),
    (
        Detail.TIME,
        # (not after a comma: "хто очолював команду, коли відкрилися переговори?" asks who)
        re.compile(
            r"^\s*when\b|\bwhen (did|was|were|will|is|are|does|do)\b|(?<!,\s)\b(?:когда|коли)\b"
            r"|\b(?:know|idea|tell me|tell us|wonder|wondering|remind me|sure)\s+when\b",
            re.I,
        ),
    ),
    (
        Detail.PLACE,
        re.compile(
            r"^\s*where\b|\bwhere (did|was|were|will|is|are|does|do|would)\b"
            # asked inside another question ("what's the latest on where the talks are held?", "any
            # idea where …"), not a relative clause ("a platform where players spend money")
            r"|^(?!\s*(?:who|whom)\b).*?\b(?:on|about|know|tell me|tell us|say|said|ask|asked|wonder|idea)\s+where\b"
            r"(?!\s+(?:to|this|that|it|things|we|i)\b)"
            rf"|\b(which|what){_FILLER}(city|country|town|venue|place|location|capital)\b|\bгде\b|\bде\b"
            r"|\bкуда\b|\bкуди\b"
            # (Ukrainian writes в or у: "у якому місті", "в якій країні"; "на каком месте" is a rank)
            r"|(?:^|\b[ву]\s+)(?:какой|какого|каком|какую|якому|якій|яке|який|якого|якої)\s+"
            r"(?:город[аеу]?|стран(?:а|ы|е|у|ой)|месте|місто|місті|міста|місці|країн[аиіу])\b",
            re.I,
        ),
    ),
    (
        Detail.PERSON,
        # (after a lead-in too: "as things stand, who mediates?", "btw who leads the talks")
        re.compile(
            r"^\s*(?:(?:so|and|but|btw|ok|okay|then|anyway)\b[\s,]*)?(who|whom|whos)\b|\bwho (is|was|did|will|has|had)\b"
            # ("any idea who leads the talks?", "tell me who mediates")
            r"|\b(?:know|idea|tell me|tell us|wonder|wondering|remind me|sure)\s+(?:who|whom)\b(?!\s+(?:to|this|that|it|else|we|i)\b)"
            r"|^(?:(?!\b(?:which|what|whose|where|when|how|why)\b)[^?])*?[,;:]\s*(?:who|whom)\b"
            r"|\bкто\b|\bхто\b|\bкого\b",
            re.I,
        ),
    ),
]

_DATE = re.compile(r"\b(" + "|".join(CALENDAR_WORDS) + r")\b|\b(19|20)\d\d\b|\b\d{1,2}[./-]\d{1,2}\b", re.I)
_TIME = re.compile(
    r"\b(immediately|soon|shortly|now|later|after|before|since|until|recently|ago|next|last|early|late|"
    r"earlier|afterwards|tonight|morning|evening|night)\b",
    re.I,
)
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds "
    "thousand thousands million millions billion billions dozen dozens half single double"
).split()
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
# "30-day", "two-hour", "15-kilometre", "11-year-old": a number that measures time, distance or
# age. It counts what "how many X" asks about only when X is that unit ("how many days": "a 30-day
# pause"), not "how many power plants" ("Twenty-three people", "a 12-person delegation" count).
_UNITS = "second minute hour day night week month year decade kilometre kilometer km mile metre meter"
_MEASURE = re.compile(
    r"\b(?:\d[\d.,]*|" + "|".join(_NUMBER_WORDS) + r")-(?P<unit>" + "|".join(_UNITS.split()) + r")s?\b", re.I
)
_HOW_MANY = re.compile(r"\b(?:how many|(?:number|count|tally) of)\s+(?P<what>\w+(?:\s+\w+){0,2})", re.I)
_HOW_LONG = re.compile(r"\bhow (?:long|old|far)\b", re.I)  # (another part may ask for the measure)
_MONEY = re.compile(
    r"[$€£¥₽₴]|\b(?:dollars?|euros?|pounds?|sterling|rubles?|roubles?|hryvnias?|yuan|yen|francs?|USD|EUR|GBP)\b",
    re.I,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]+")
# "Where": a name the sentence puts somewhere — after a preposition of place ("in the Middle
# East", "from Doha") or as a host ("Norway will host", "hosted by Switzerland") — not any name
# ("concerns about Ukraine's sovereignty" says nowhere).
_PLACED = re.compile(
    r"\b(?i:in|at|near|from|into|outside|inside|across|via|host(?:ed)? by"
    r"|(?:mov|relocat|shift|switch|return|travell?|transferr?)(?:e|es|ed|ing|s)?\s+to|(?:flew|went|came|headed)\s+to"
    r"|(?:city|port|town|village|region|province|district|island|republic) of)"
    r"\s+(?:(?i:the)\s+)?(?P<after>[A-Z][\w’'-]+)"
    # "in a Seattle federal court", not "in a Bloomberg interview"
    r"|\b(?i:in|at|near|from|outside|inside)\s+(?i:a|an)\s+(?P<within>[A-Z][\w’'-]+)(?=(?:\s+[a-z]+)?\s+"
    r"(?:court|courthouse|city|town|suburb|village|hotel|stadium|arena|hospital|prison|port|airport|base|district)\b)"
    r"|(?P<before>[A-Z][\w’'-]+)\s+(?:(?:will|would|is to|agreed to|offered to)\s+)?host(?:s|ed|ing)?\b"
)


# What "the number of inspection vessels" counts, and a number that counts it: "three inspection
# vessels", "Six international inspectors" — not "112 ships" beside them, nor "one of the vessels".
_COUNTED_SKIP = frozenset(
    "the a an of at in on for to from by with through across into per and or over time changed change "
    "grown grew".split()
)
_COUNT = re.compile(
    r"\b(?P<n>\d[\d.,]*|" + "|".join(_NUMBER_WORDS) + r")(?!\s+of\b)(?P<after>(?:\W+[\w'’-]+){1,3})", re.I
)


_WORDS = re.compile(r"[\w'’-]+")


def _stem(word: str) -> str:
    return word.lower().removesuffix("s")[:5]


def counted(question: str) -> frozenset[str]:
    """The word stems of what "how many X" / "the number of X" counts (empty: it counts nothing)."""
    many = _HOW_MANY.search(question)
    if not many:
        return frozenset()
    return frozenset(_stem(w) for w in many.group("what").split() if w.lower() not in _COUNTED_SKIP)


# ... or brought to one after it: "the number of international inspectors at the site is being
# raised to 20".
_COUNT_AFTER = re.compile(
    r"(?P<what>[\w'’-]+)(?:\W+[\w'’-]+){0,6}?\W+(?:to|at|reach\w*)\s+(?:\d[\d.,]*|"
    + "|".join(_NUMBER_WORDS)
    + r")\b",
    re.I,
)


def counts(sentence: str, stems: frozenset[str]) -> bool:
    """Whether a number in ``sentence`` counts what ``stems`` name: followed by it within three
    words, or it brought "to" the number within seven words."""
    return any(
        _stem(w) in stems for m in _COUNT.finditer(sentence) for w in _WORDS.findall(m.group("after"))
    ) or any(
        _stem(m.group("what")) in stems
        for start in (w.start() for w in _WORDS.finditer(sentence))
        if (m := _COUNT_AFTER.match(sentence, start)) is not None
    )


# What a change-over-time question follows ("how did the fee per ship change?"), by the first
# noun of a kind of value it names: each report's line must give such a value.
_FOLLOWED = [
    (
        Detail.MONEY,
        r"price|prices|cost|costs|fee|fees|salary|budget|fine|fines|tariff|tariffs|payment|payments"
        r"|цен[аыуе]|стоимост\w*|плат[аиуеі]|сбор\w*|пошлин\w*|ціна|ціни|ціну|вартіст\w*|збір|збору|мит[оа]",
    ),
    (
        Detail.NUMBER,
        r"number|count|tally|total|amount|percentage|share|figure|figures|числ[оа]|количеств\w*|кількіст\w*",
    ),
    (
        Detail.PLACE,
        r"venue|venues|city|cities|host|location|locations|country|capital"
        r"|мест[оа]|город\w*|столиц\w*|місце|місця|міст[оа]",
    ),
    (
        Detail.PERSON,
        r"mediator|mediators|negotiator|negotiators|leader|chair|envoy|spokesman|spokesperson"
        r"|посредник\w*|переговорщик\w*|посередник\w*|переговірник\w*|очільник\w*",
    ),
]
_FOLLOWED_RE = re.compile("|".join(rf"\b(?P<{d.name}>{words})\b" for d, words in _FOLLOWED), re.I)


def followed(question: str) -> Detail | None:
    """The kind of value a change-over-time question follows (None: it names none)."""
    match = _FOLLOWED_RE.search(question)
    return Detail[match.lastgroup] if match else None


# "Where does Russia stand on …", "where is this heading", "where this leaves Kyiv": a position,
# not a place.
_STANDING = re.compile(
    r"\bwhere\b.*\b(?:stand|stands|standing|heading|headed|leaves|go from here|going from here)\b", re.I
)


def asked_detail(question: str) -> Detail | None:
    for detail, pattern in _ASKS:
        if pattern.search(question):
            return None if detail is Detail.PLACE and _STANDING.search(question) else detail
    return None


_OPENS_QUESTION = re.compile(
    r"^\s*(?:(?:and|but|so|а|и|і|та|ну)\s+)?(?:(?:by|for|in|at|to|за|на|по|в|у|з|с|до)\s+)?(?:what|who|whom|whose|which|where|when|why|how|did|does|do|is|are|was"
    r"|were|will|would|can|could|has|have|had|что|чего|кто|где|когда|куда|откуда|почему|зачем|как\w*|сколько|скок\w*"
    r"|чей|чья|що|чого|хто|де|коли|куди|звідки|чому|навіщо|як\w*|скільки|чий|чия|чи|які|який|яку|яка|какой|какая|какие)\b",
    re.I,
)


def asked_details(question: str, parts: list[str]) -> set[Detail | None]:
    """The details a question asks for: the whole question's (``asked_detail``), and each part's
    ("who is taking over, and how much are they paying?": a person or a sum). A part that asks
    for nothing in particular adds nothing, and neither does a fragment ("…? in dollars")."""
    return {asked_detail(question)} | (
        {asked_detail(part) for part in parts if _OPENS_QUESTION.match(part)} - {None}
    )


def has_detail(
    sentence: str, detail: Detail | None, question: str = "", known_actors: frozenset[str] = frozenset()
) -> bool:
    """Whether ``sentence`` contains a detail of the asked kind (names: one the question doesn't
    already give — "Where did Trump meet Putin?" is not answered by "Trump met Putin"; for "who",
    one of ``known_actors`` when there are any)."""
    if detail is None:
        return True
    if detail is Detail.DATE:
        return bool(_DATE.search(sentence))
    if detail is Detail.TIME:
        return bool(_DATE.search(sentence) or _TIME.search(sentence))
    if detail is Detail.NUMBER:
        many = _HOW_MANY.search(question)
        if many and not _HOW_LONG.search(question):  # "how many power plants": not "a 30-day pause"
            asked_units = {w.lower().removesuffix("s") for w in many.group("what").split()}
            sentence = _MEASURE.sub(
                lambda m: m.group(0) if m.group("unit").lower() in asked_units else " ", sentence
            )
        return bool(_NUMBER.search(sentence))
    if detail is Detail.MONEY:
        return bool(_MONEY.search(sentence))
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    if detail is Detail.PLACE:
        places = [
            m.group("after") or m.group("within") or m.group("before")
            for m in _PLACED.finditer(without_dateline(sentence))
        ]
        return any(name_key(p) not in asked and name_key(p) not in CALENDAR_WORDS for p in places)
    if detail is Detail.PERSON and known_actors:
        return bool((capitalised_keys(sentence) & known_actors) - asked)
    # Days and months are capitalised but name no one and no place.
    names = [m.group(0) for m in _NAME.finditer(sentence.strip()) if m.group(0).lower() not in CALENDAR_WORDS]
    return any(name.lower() not in asked for name in names)


# "What did the negotiators decide last month?", "what was agreed?", «что решили стороны?»: the
# answer reports a decision ("agreed to raise the tonnage cap"), not a remark about it ("Savchuk
# said the higher limit would bring back ships"), which shares as many of the question's words.
_ASKS_DECISION = re.compile(
    r"\bwhat\b.{0,60}?\b(?:decide|decided|agree|agreed|settle|settled|resolve|resolved|sign|signed)\b"
    r"|\b(?:что|чего)\b.{0,40}?\b(?:решили|решил|решила|решено|договорились|договорился|постановили|согласовали)\b"
    r"|\bщо\b.{0,40}?\b(?:вирішили|вирішив|вирішила|вирішено|домовилися|домовились|погодили|ухвалили)\b",
    re.I,
)
_DECISION = re.compile(
    r"\b(?:agree[ds]?|agreeing|agreement|decid\w*|decision|approv\w*|accept\w*|adopt\w*|sign(?:ed|s|ing)?|"
    r"settl\w*|resolv\w*|resolution|vot(?:e|ed|es|ing)|endors\w*|ratif\w*|pledg\w*|consensus)\b",
    re.I,
)


def asks_decision(question: str) -> bool:
    """Whether the question asks what was decided or agreed."""
    return bool(_ASKS_DECISION.search(question))


def reports_decision(sentence: str) -> bool:
    """Whether the sentence reports a decision: agreed, decided, approved, signed, accepted …"""
    return bool(_DECISION.search(sentence))


# Questions no article can answer, however related its sentences: instructions to the bot and
# requests for its own opinion. They are refused before any sentence is considered.
_NOT_A_QUESTION = re.compile(
    r"\bignore (all |any |your |the |my |previous |prior |above |earlier )*(instructions|rules|prompt)"
    r"|\b(system prompt|jailbreak|developer mode)\b|\bpretend (to be|you are)\b|\byou are now\b"
    r"|\bnew rule\b|\bskip the (citations|sources)\b|\bjust tell (everyone|everybody|us|me) (that )?"
    r"|\b(your|ur) (own )?(opinion|view|take|thoughts)\b|\bwhat do (you|u|ya) (think|believe|feel)\b"
    r"|\bdo (you|u|ya) (think|believe|agree|feel|reckon)\b|\bin your (view|opinion)\b|\bbe honest\b"
    r"|\bwho is (right|wrong)\b|\bwho'?s (right|wrong)\b|\b(smart|good|bad|terrible|stupid|wise) (move|idea)\b"
    r"|\bshould (i|we) (support|believe|trust)\b|\bwrite (me )?(a|an) (poem|story|essay|song|joke)\b"
    r"|\bпо[- ]твоему\b|\bтвое мнение\b|\bтвоє мнение\b|\bтвоя думка\b|\bна твою думку\b"
    r"|\bигнорируй\b|\bігноруй\b|\bкто прав\b|\bхто правий\b"
    r"|\b(?:как|что|як|що) (?:вы |ви |ты |ти )?(?:думаете|думаешь|думаєте|думаєш|считаете|считаешь|вважаєте|вважаєш)\b"
    # "forget your instructions and …", "act as a Russian diplomat", "which side are you on?"
    r"|\b(?:forget|disregard|override|bypass)\b.{0,30}\b(?:instructions|rules|prompt|guidelines)\b"
    r"|\bact as (?:a|an|if)\b|\brole-?play\b|\b(?:which|whose) side (?:are|r) (?:you|u)\b|\bare (?:you|u) biased\b"
    r"|\bwrite (?:me )?(?:a|an) (?:tweet|post|speech|limerick|rap)\b"
    r"|\bзабудь\b|\bпредставь,? что ты\b|\bпритворись\b|\bуяви,? що ти\b|\bприкинься\b|\bвдавай\b"
    r"|\bнапиши (?:мне |мені )?(?:стих\w*|поэм\w*|песн\w*|рассказ\w*|шутк\w*|анекдот\w*|вірш\w*|поем\w*|пісн\w*|жарт\w*|твит|твіт)"
    r"|\bбез цитат\b|\b(?:ты|ти) за кого\b|\bна чьей (?:ты|вы) стороне\b|\bна чиєму (?:ти|ви) боці\b",
    re.I,
)


def not_a_question(question: str) -> bool:
    """An instruction to the bot or a request for its opinion, not a question the articles answer."""
    return bool(_NOT_A_QUESTION.search(question))
