"""Who a question asks about and who acts in the articles' sentences: the names sentences show
acting or speaking, the speaker a question names ("what did Zelensky say", «що сказав Трамп»),
the parties of the negotiations under their many names, and the side of the war a question asks
the leader of. What kind of detail a question asks for is bot/answering/asks.py.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache

from anyascii import anyascii

from bot.answering.about import without_dateline

# Words written capitalised that name no one and no place: days, months, the calendar's others.
CALENDAR_WORDS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow "
    "week weekend month year days weeks months years"
).split()


# Who can answer "who": names the articles themselves show acting. Learned from the candidate
# sentences, since no name list covers the news: a name written in full ("Marta Lysenko": both
# parts count afterwards, so "Lysenko said" does too) and a name before a verb of saying or
# doing ("the Kremlin stated", "Ukraine proposed"). A wire story's opening sentence is full of
# capitalised words that are none of these — its dateline ("OSLO (Pinewood Times) -"), places,
# nationalities — and used to answer every "who" question about its article.
_WORD = re.compile(r"(?:[A-Z]\.){2,}|[^\W\d_][\w’'-]*\.?|[,;:()\"“”«»—–]")  # punctuation separates names
_NOT_NAMES = frozenset(
    CALENDAR_WORDS
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


def capitalised_keys(sentence: str) -> set[str]:
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
    "росси": 0, "росі": 0, "кремл": 0, "москв": 0,  # (росі: Росія, Росії, Росію, російський)
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
    names = set().union(*map(capitalised_keys, sentences))
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
    names = sorted(key for key in set().union(*map(capitalised_keys, sentences)) if len(key) > 3)
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


# «Хто був головним посередником?», «кто переговорщик от США?»: who holds a role of the talks, asked
# in Russian or Ukrainian. The English sentences name the role in English ("Clara Farrugia, the
# mediator, said …"), which the sentence model reads as any role ("Kyiv's chief negotiator").
_CYR_ROLES = [
    (re.compile(r"\b(?:посредни\w*|посередни\w*|медиатор\w*|медіатор\w*)", re.I), re.compile(r"\bmediat\w*", re.I)),
    (re.compile(r"\b(?:переговорщи\w*|переговірни\w*|перемовни\w*)", re.I), re.compile(r"\bnegotiator\w*", re.I)),
    (
        re.compile(r"\b(?:спецпосланни\w*|посланни\w*|посланц\w*|посланець|спецпредстав\w*|эмиссар\w*|емісар\w*)", re.I),
        re.compile(r"\b(?:envoy\w*|emissar\w*)", re.I),
    ),
]  # fmt: skip
_CYR_WHO = re.compile(r"\b(?:кто|хто)\b", re.I)


def asked_role(question: str) -> re.Pattern | None:
    """For a Russian or Ukrainian "who" question naming one role of the talks, the pattern of
    that role in English."""
    if not _CYR_WHO.search(question):
        return None
    roles = [english for cyrillic, english in _CYR_ROLES if cyrillic.search(question)]
    return roles[0] if len(roles) == 1 else None
