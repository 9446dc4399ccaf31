"""What kind of detail a question asks for, and whether a sentence contains one.

"When did …" is not answered by a sentence without a date, "how many …" not by one without a
number: a related sentence that lacks the asked-for detail is a wrong answer, however similar it
reads. The kinds are few and recognised by question words in English, Russian and Ukrainian.
"""

from __future__ import annotations

import enum
import re
from difflib import SequenceMatcher
from functools import lru_cache

from anyascii import anyascii

from bot.answering.about import without_dateline


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
    r"(?:['’]s|\s+is|\s+was|\s+are|\s+were)?(?:\s+(?:the|a|an))?"
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
            r"стоимост\w*|вартіст\w*|цен\w*|ціна|ціну|бюджет\w*|плат[аиуеі]|сбор|збір|мито|пошлин\w*|тариф\w*)",
            re.I,
        ),
    ),
    (
        Detail.NUMBER,
        re.compile(
            rf"\bhow (many|much|long|big|large)\b|\bwhat{_FILLER}(number|percentage|share|amount|score|total|count"
            r"|tally|figure|rate|age)\b|\bhow many\b"
            # ("how did the number of X change", not "why did the number of ships drop?")
            r"|^(?!\s*(?:who|whom|when|where|why|did|does|do|has|have|is|are|was|were)\b).*?\bthe (?:number|count|tally) of\b"
            r"|\bсколько\b|\bскок\b|\bскока\b|\bскільки\b|\bкакое количество\b|\bяка кількість\b",
            re.I,
        ),
    ),
    (
        Detail.DATE,
        re.compile(
            rf"\b(what|which){_FILLER}(date|day|year|month)\b|\bкакого числа\b"
            r"|\bякого числа\b|\bв какой день\b|\bв який день\b|\bв каком году\b|\bв якому році\b"
            r"|\bкакая дата\b|\bяка дата\b",
            re.I,
        ),
    ),
    (
        Detail.TIME,
        re.compile(r"^\s*when\b|\bwhen (did|was|were|will|is|are|does|do)\b|\bкогда\b|\bколи\b", re.I),
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
        re.compile(r"^\s*(who|whom)\b|\bwho (is|was|did|will|has|had)\b|\bкто\b|\bхто\b|\bкого\b", re.I),
    ),
]

_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_DATE_WORDS = (
    _MONTHS
    + (
        "monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow "
        "week weekend month year days weeks months years"
    ).split()
)
_DATE = re.compile(r"\b(" + "|".join(_DATE_WORDS) + r")\b|\b(19|20)\d\d\b|\b\d{1,2}[./-]\d{1,2}\b", re.I)
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


# Who can answer "who": names the articles themselves show acting. Learned from the candidate
# sentences, since no name list covers the news: a name written in full ("Marta Lysenko": both
# parts count afterwards, so "Lysenko said" does too) and a name before a verb of saying or
# doing ("the Kremlin stated", "Ukraine proposed"). A wire story's opening sentence is full of
# capitalised words that are none of these — its dateline ("OSLO (Pinewood Times) -"), places,
# nationalities — and used to answer every "who" question about its article.
_WORD = re.compile(r"(?:[A-Z]\.){2,}|[^\W\d_][\w’'-]*\.?|[,;:()\"“”«»—–]")  # punctuation separates names
_NOT_NAMES = frozenset(
    _DATE_WORDS
    + """the a an in on at of and or but for to from by with this that these those it he she they we
    you his her their our its after before when while as if""".split()
)
_PLACE_BEFORE = frozenset({"the", "in", "at", "near", "across"})
_AGENT = re.compile(r"(?:^|\s)by(?:\s+(?:the|a|an))?$", re.I)  # the doer of a passive: "hosted by Qatar"
# Verbs of saying or doing, in every inflection ("Qatar attending as co-mediator", "Norway hosts").
_ACTING_VERBS = """say state announce tell add ask warn confirm deny insist argue note write declare call urge
    agree propose reject accuse claim explain acknowledge admit reply respond speak meet brief order sign
    offer describe suggest attend chair host mediate lead head represent broker negotiate accept join
    send visit demand threaten""".split()
_IRREGULAR = "said told spoke met wrote led sent admitted admitting denied denies replied replies".split()


def _inflections(verb: str) -> set[str]:
    silent_e = verb.endswith("e") and not verb.endswith("ee")
    return {
        verb,
        verb + ("es" if verb.endswith(("s", "sh", "ch", "x")) else "s"),
        verb + ("d" if verb.endswith("e") else "ed"),
        (verb[:-1] if silent_e else verb) + "ing",
    }


_ACTING = frozenset(_IRREGULAR).union(*map(_inflections, _ACTING_VERBS))


_US = frozenset({"US", "USA", "U.S", "U.S.A"})


def name_key(word: str) -> str:
    if word.rstrip(".") in _US:  # "US", "USA" and "U.S." are one name (in capitals: not "us")
        return "u.s"
    return re.split(r"[’']", word.rstrip("."))[0].lower()  # "Lysenko's" → lysenko


def sentence_words(sentence: str) -> list[str]:
    return _WORD.findall(without_dateline(sentence))


def _capitalised_inside(split: list[list[str]]) -> set[str]:
    """Keys of the words written capitalised after a sentence's first word (names, not grammar)."""
    return {name_key(w) for words in split for w in words[1:] if w[0].isupper()}


def actors(sentences) -> frozenset[str]:
    """The names ``sentences`` show as people or bodies that act (keys: lower case, no 's). A
    sentence's first word is capitalised by grammar ("Negotiators signed …", "Russian President
    Vladimir Putin …"): it counts only if it is also written capitalised inside a sentence."""
    split = [sentence_words(sentence) for sentence in sentences]
    inside = _capitalised_inside(split)
    found: set[str] = set()
    for words in split:
        for i, (before, word, after) in enumerate(zip([""] + words, words, words[1:] + [""])):
            key = name_key(word)
            if not word[0].isupper() or len(key) < 2 or key in _NOT_NAMES:
                continue
            named = i > 0 or key in inside
            if _AGENT.search(" ".join(words[max(0, i - 2) : i])):  # "monitored by Swiss observers"
                found.add(key)
            if not after:
                continue
            if after[0].isupper() and len(name_key(after)) > 1 and name_key(after) not in _NOT_NAMES:
                if before.lower() not in _PLACE_BEFORE:  # not "the Black Sea", "in New York"
                    found |= {name_key(after), key} if named else {name_key(after)}  # a name in full
            elif (
                after.lower().rstrip(".") in _ACTING and named and key == word.lower().rstrip(".")
            ):  # "…, Zelensky said."; not "Ukraine's lead"
                found.add(key)
    return frozenset(found)


# "What did Zelensky say about …", "how did China react": the question names whose words or
# deeds it asks for, and a sentence that does not name them cannot be their answer however close
# its topic ("The White House confirmed …" is not what Zelensky said).
_SPEAKER = re.compile(
    r"\b(?:what|how)\s+(?:did|does|do|has|have|had|is|was|were|are|will|would)\s+"
    r"(?P<who>(?:[\w’'.-]+\s+){0,3}?[\w’'.-]+?)(?:['’]s)?\s+(?P<verb>say|said|claim|think|propose|want|demand|tell|"
    r"announce|reply|respond|react|argue|warn|suggest|offer|feel|believe|insist|make of|think of)\b",
    re.I,
)
# "did china say anything about the deal?", "has zelensky commented?": the yes/no form, with a verb
# of saying only ("does the article suggest" asks what the article says, not whether it speaks).
_SPEAKER_YES_NO = re.compile(
    r"^\s*(?:(?:so|and|but|ok|okay)\s+)?(?:did|does|do|has|have|had)\s+"
    r"(?P<who>(?:[\w’'.-]+\s+){0,3}?[\w’'.-]+?)\s+(?:ever\s+|even\s+|actually\s+)?"
    r"(?P<verb>say|said|comment|commented|react|reacted|respond|responded|reply|replied|announce|announced)\b",
    re.I,
)


def _speaker_matches(question: str) -> list[re.Match]:
    return [*_SPEAKER.finditer(question), *_SPEAKER_YES_NO.finditer(question)]


# "What did Zelensky say": an answer has him say something — a verb of saying or a quotation, not
# merely his name ("Trump met with Ukrainian President Volodymyr Zelensky" says nothing of his).
_ASKS_WORDS = frozenset(
    "say said claim tell announce announced reply replied respond responded argue warn insist comment commented".split()
)
_UTTERS = re.compile(
    r"\b(?:say|says|said|saying|stated?|states|stating|announc\w*|told|tells?|telling|added|adds|warn\w*|"
    r"confirm\w*|den(?:y|ied|ies)|insist\w*|argu\w*|noted|notes|wr(?:ote|ites)|declar\w*|call(?:ed|s|ing)|urg\w*|"
    r"claim\w*|explain\w*|acknowledg\w*|admit\w*|repl(?:y|ied|ies)|respond\w*|dismiss\w*|describ\w*|accus\w*|"
    r"prais\w*|criticis\w*|criticiz\w*|reject\w*|welcom\w*|comment\w*|according to|remarks?|statement)\b|[«“\"]",
    re.I,
)


def asks_words(question: str) -> bool:
    """Whether the question asks what someone said ("what did Zelensky say about …"), in each of
    its parts ("what did X say and what did Y propose" asks Y's deeds too)."""
    verbs = [match.group("verb").lower() for match in _speaker_matches(question)]
    return bool(verbs) and all(verb in _ASKS_WORDS for verb in verbs)


def utters(sentence: str) -> bool:
    """Whether the sentence reports words: a verb of saying, or a quotation."""
    return bool(_UTTERS.search(sentence))


# The parties of these negotiations go by their capitals, seats and adjectives as often as by
# name ("the Kremlin insists …" is what Russia wants): each of these names any of its group.
_SAME_PARTY = [
    frozenset("russia russian russians moscow kremlin".split()),
    frozenset("ukraine ukrainian ukrainians kyiv kiev".split()),
    frozenset("america american americans washington u.s".split()),
    frozenset("china chinese beijing".split()),
    frozenset("europe european europeans brussels".split()),
]


def _with_parties(found: set[str]) -> frozenset[str]:
    """``found`` with every other name of each party it names ("kremlin" → russia, moscow, …)."""
    return frozenset(found.union(*(party for party in _SAME_PARTY if found & party)))


def _capitalised_keys(sentence: str) -> set[str]:
    """The keys of the words ``sentence`` writes capitalised, its first word included."""
    return {name_key(w) for w in sentence_words(sentence) if w[0].isupper()}


def speakers(question: str, sentences, used=None) -> frozenset[str]:
    """The names (keys as ``actors``) of whoever an English question asks the words or deeds of,
    in any of its parts: words it writes capitalised, or that ``sentences`` write capitalised inside
    a sentence (people type "zelensky"), or that the articles never use at all (``used``: "what did
    china say" when no article names China — nothing can answer for it). Empty when it names no one
    ("what did they say", "what did both sides want")."""
    matches = _speaker_matches(question)
    if not matches:
        return frozenset()
    inside = _capitalised_inside([sentence_words(sentence) for sentence in sentences])
    found = set()
    for match in matches:
        words = _WORD.findall(match.group("who"))
        for i, word in enumerate(words):
            key = name_key(word)
            if i < len(words) - 1 and key != word.lower():  # "Putin's envoy": the envoy speaks
                continue
            if len(key) < 2 or key in _NOT_NAMES:
                continue
            if word[0].isupper() or key in inside or (used is not None and not used(key)):
                found.add(key)
    return _with_parties(found)


# "Что сказал Зеленский?", "Що Трамп запропонував?": the same rule for Russian and Ukrainian
# questions. Their names are Cyrillic and the articles' Latin, so they are compared
# transliterated (anyascii), allowing an inflection ("Путина" is Putin).
_CYR_QUESTION = re.compile(
    r"^\s*(?:(?:а|и|і|ну)\s+)?(?:что|чего|що|чого|как|як|как\w+|сколько|скок|скока|які|який|яку|яка|скільки)\b",
    re.I,
)
_CYR_SAYING = re.compile(
    r"^(?:сказа\w*|заяви\w*|говори\w*|ответи\w*|відпові\w*|назва\w*|пообеща\w*|пообіця\w*|сообщи\w*|"
    r"повідоми\w*|коммент\w*|комент\w*|написа\w*)$",
    re.I,
)
_CYR_DOING = re.compile(
    r"^(?:предлож\w*|запропон\w*|хоче\w*|хочу\w*|хоте\w*|хоті\w*|требу\w*|вимага\w*|дума[юеєл]\w*|счита\w*|"
    r"вважа\w*|отреагир\w*|відреагу\w*|предпри\w*|обеща\w*|"
    # deeds: "Какие санкции ввел ЕС?", "Скільки виділили США?"
    r"вв[её]л\w*|введ\w*|запровади\w*|запровадж\w*|объяви\w*|оголоси\w*|выдели\w*|выделя\w*|виділи\w*|"
    r"виділя\w*|подписа\w*|підписа\w*|отправи\w*|надісла\w*|направи\w*|наложи\w*|наклал\w*|наклав\w*)$",
    re.I,
)
_LATIN_OR_NUMBER = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ][A-Za-zÀ-ÖØ-öø-ɏ'’.-]*[A-Za-zÀ-ÖØ-öø-ɏ]|\d+(?:[.,]\d+)?")
# "согласно статье", "за словами статті": the question's frame, not its topic ("статье" reads "state").
_CYR_META = re.compile(r"^(?:стат|новост|новин|сообщ|повідом)")
_CYR_WORD = re.compile(r"[А-Яа-яЁёІіЇїЄєҐґ][А-Яа-яЁёІіЇїЄєҐґ'’-]*")
_CYR_NOT_NAMES = frozenset(
    "о об про по в во на у с со з из із за от від для это этом этому это це цьому же ли чи".split()
)
_CYR_ENDINGS = ("ого", "ому", "ым", "им", "ом", "ой", "ей", "а", "у", "ю", "е", "ы", "и", "я")
# The parties by their Russian and Ukrainian names (stems), as _SAME_PARTY's English groups.
_CYR_PARTIES = {
    "росси": 0, "росій": 0, "росія": 0, "кремл": 0, "москв": 0,
    "украин": 1, "україн": 1, "киев": 1, "київ": 1, "києв": 1,
    "сша": 2, "америк": 2, "вашингтон": 2, "белый": 2, "белого": 2, "белом": 2, "білий": 2, "білого": 2,
    "білому": 2,
    "китай": 3, "кита": 3, "пекин": 3, "пекін": 3,
    "евросоюз": 4, "євросоюз": 4, "европ": 4, "європ": 4, "ес": 4, "єс": 4,
}  # fmt: skip


def _latin(word: str) -> str:
    return re.sub(r"[^a-z]", "", anyascii(word).lower())


@lru_cache(maxsize=4096)
def _latin_forms(cyrillic: str) -> tuple[str, ...]:
    """A Cyrillic word transliterated, as written and without each inflection it may carry."""
    forms = [cyrillic] + [
        cyrillic[: -len(e)] for e in _CYR_ENDINGS if cyrillic.endswith(e) and len(cyrillic) > len(e) + 3
    ]
    return tuple(latin for latin in map(_latin, forms) if latin)


def _like_name(cyrillic: str, key: str) -> bool:
    # A short name's transliteration is one letter off as often as not ("Мерц" → merts, Merz).
    return any(
        SequenceMatcher(None, form, key).ratio() >= 0.75
        or (len(key) <= 5 and form[:3] == key[:3] and abs(len(form) - len(key)) <= 1)
        for form in _latin_forms(cyrillic)
    )


def _cyrillic_party(word: str) -> int | None:
    """The index in _SAME_PARTY of the party a lower-case Russian/Ukrainian word names, if any
    (a short stem such as "сша" only as the whole word)."""
    for stem, party in _CYR_PARTIES.items():
        if word == stem or (len(stem) > 3 and word.startswith(stem)):
            return party
    return None


def _cyrillic_speaker(question: str) -> tuple[list[str], bool]:
    """The words naming whoever a Russian or Ukrainian question asks the words or deeds of, and
    whether it asks their words; ([], False) for another question. The doer stands before the
    verb ("Что Путин сказал Зеленскому?": Putin) or, when no name does, right after it ("Что по
    этому поводу сказал Зеленский?")."""
    opener = _CYR_QUESTION.search(question)
    if not opener:
        return [], False
    words = _CYR_WORD.findall(question[opener.end() :])[:7]
    for i, word in enumerate(words[:5]):
        saying = bool(_CYR_SAYING.match(word))
        if saying or _CYR_DOING.match(word):
            before = [w for w in words[:i] if w[0].isupper() or _cyrillic_party(w.lower()) is not None]
            after = []
            for w in words[i + 1 : i + 3]:
                if w.lower() in _CYR_NOT_NAMES:
                    break
                after.append(w)
            return before or after, saying
    return [], False


def cyrillic_speakers(question: str, sentences) -> tuple[frozenset[str], bool]:
    """For a Russian or Ukrainian question, what ``speakers`` and ``asks_words`` tell of an English
    one: the (Latin) keys of whoever it asks about, and whether it asks their words. A name no
    sentence matches stays in, transliterated, so that nothing names it."""
    who, saying = _cyrillic_speaker(question)
    if not who:
        return frozenset(), False
    names = set().union(*map(_capitalised_keys, sentences))
    found: set[str] = set()
    for word in who:
        low = word.lower()
        if (party := _cyrillic_party(low)) is not None:
            found |= _SAME_PARTY[party]
            continue
        like = {key for key in names if len(key) > 2 and _like_name(low, key)}
        if like:
            found |= like
        elif word[0].isupper() and not word.isupper():  # a name the articles never mention
            # (an acronym is translated, not transliterated: МАГАТЭ is the IAEA, ООН the UN)
            found.add(_latin(word))
    return _with_parties(found), saying and bool(found)


def cyrillic_terms(question: str, sentences) -> list[str]:
    """What a Russian or Ukrainian question shares with English ``sentences`` word for word: the
    names they write that it writes in Cyrillic ("тіктока" is TikTok, "Ричарда Тенга" Richard
    Teng), and its own Latin-letter words and numbers ("Hipgnosis", "OLED", "20"). The keyword
    signals of an English question, for the few words that cross languages as they are."""
    names = sorted(key for key in set().union(*map(_capitalised_keys, sentences)) if len(key) > 3)
    found = _LATIN_OR_NUMBER.findall(question)
    for word in _CYR_WORD.findall(question):
        low = word.lower()
        if len(low) < 4 or _CYR_META.match(low) or _cyrillic_party(low) is not None:
            continue  # a party is named by many words in English (Russia, Moscow, the Kremlin)
        # Stricter than for a speaker (0.8, no short-name rule): every name of the hits is a
        # candidate here. One matcher per form: it indexes the form once for all the names.
        best = (0.8, None)
        for form in _latin_forms(low):
            matcher = SequenceMatcher(None, "", form)
            for key in names:
                matcher.set_seq1(key)
                if (
                    matcher.real_quick_ratio() >= best[0]
                    and matcher.quick_ratio() >= best[0]
                    and (ratio := matcher.ratio()) >= best[0]
                    and (ratio, key) > (best[0], best[1] or "")
                ):
                    best = (ratio, key)
        if best[1] is not None:
            found.append(best[1])
    return found


def names_any(sentence: str, keys: frozenset[str]) -> bool:
    """Whether ``sentence`` names one of ``keys`` (any case, "Zelensky's" too)."""
    return any(name_key(w) in keys for w in sentence_words(sentence))


# "Who heads Kyiv's team?", "who speaks for Ukraine now?", «хто очолює українську делегацію?»:
# the person leading or speaking for one side of the war. The answer puts that side beside a word
# of leading ("The Ukrainian side is led by …", "Marta Lysenko, Ukraine's lead negotiator"); a
# name elsewhere — the mediator, the other side's negotiator — answers a different question.
_LEADS_ASKED = re.compile(
    r"\b(?:lead|leads|led|leading|head|heads|headed|heading|in charge|chief|represent\w*|speaks? for|speaking for"
    r"|negotiator|negotiators|очолю\w*|возглав\w*|керу\w*|руковод\w*|представля\w*|говорит от|говорить від)\b",
    re.I,
)
_LEADS = re.compile(
    r"^(?:led|leads|lead|leading|headed|heads|head|chief|negotiator|negotiators|represented|represents"
    r"|representative|envoy|delegation)$",
    re.I,
)
_WAR_SIDES = (0, 1)  # Russia and Ukraine, in _SAME_PARTY
_SIDE_WINDOW = 4  # words between the side and the word of leading ("Kyiv's technical team is headed")


def _party_of(word: str) -> int | None:
    """The index in _SAME_PARTY of the party a word names, in English ("Kyiv's") or Cyrillic."""
    low = name_key(word)
    english = next((i for i, party in enumerate(_SAME_PARTY) if low in party), None)
    return english if english is not None else _cyrillic_party(low)


def asked_side(question: str) -> int | None:
    """The side of the war (its index in _SAME_PARTY) whose leader or spokesperson a question asks
    for, if it asks that of exactly one."""
    if not _LEADS_ASKED.search(question):
        return None
    named = {party for word in re.findall(r"[\w’']+", question) if (party := _party_of(word)) in _WAR_SIDES}
    return named.pop() if len(named) == 1 else None


def leads_side(sentence: str, side: int) -> bool:
    """Whether ``sentence`` puts ``side`` beside a word of leading or speaking for it."""
    words = sentence_words(sentence)
    sides = [i for i, w in enumerate(words) if _party_of(w) == side]
    leads = [i for i, w in enumerate(words) if _LEADS.match(w)]
    return any(abs(i - j) <= _SIDE_WINDOW for i in sides for j in leads)


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
        return any(name_key(p) not in asked and name_key(p) not in _DATE_WORDS for p in places)
    if detail is Detail.PERSON and known_actors:
        return bool((_capitalised_keys(sentence) & known_actors) - asked)
    # Days and months are capitalised but name no one and no place.
    names = [m.group(0) for m in _NAME.finditer(sentence.strip()) if m.group(0).lower() not in _DATE_WORDS]
    return any(name.lower() not in asked for name in names)


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
    r"|\b(?:как|что|як|що) (?:вы |ви |ты |ти )?(?:думаете|думаешь|думаєте|думаєш|считаете|считаешь|вважаєте|вважаєш)\b",
    re.I,
)


def not_a_question(question: str) -> bool:
    """An instruction to the bot or a request for its opinion, not a question the articles answer."""
    return bool(_NOT_A_QUESTION.search(question))
