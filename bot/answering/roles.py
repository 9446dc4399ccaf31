"""Questions about what someone is: "what's Dmitriev's role?", "what title does the article give
Marco Rubio?", "who is Karoline Leavitt?". Their answer is each sentence that gives the person a
title — "Russian envoy Kirill Dmitriev", "Secretary of State Marco Rubio", "Senator Marco Rubio",
"Marta Lysenko, Ukraine's lead negotiator," — one sentence per distinct title, in reading order:
an article may call one person two things, and both are the answer.

The title is read from the words around the name, not weighed by the sentence model: a question
whose keywords are the user's guesses ("is he a minister or smth") shares few words with the
answer, yet a sentence naming the person with a title is the answer for certain.
"""

from __future__ import annotations

import re

from bot.answering.who import actors, name_key, sentence_words

# Words that make a phrase before or after a name a title ("Special Envoy", "lead negotiator").
_ROLES = frozenset(
    """president vice premier prime minister secretary senator congressman congresswoman lawmaker envoy
    ambassador diplomat negotiator mediator adviser advisor aide spokesman spokeswoman spokesperson
    chief head director chairman chairwoman chair general commander official officer deputy
    representative governor mayor chancellor king queen leader regulator delegate founder ceo
    executive economist analyst expert journalist reporter correspondent editor professor""".split()
)
_ROLE_NOUNS = r"(?:title|titles|role|roles|job|position|post|rank|office)"
_ASKS_ROLE = [
    # "what title does the article give Marco Rubio", "which role did Witkoff have"
    re.compile(
        rf"\b(?:what|which)(?:['’]s|\s+is|\s+was)?\s+(?:the\s+|his\s+|her\s+)?{_ROLE_NOUNS}\b(?P<who>.+)",
        re.I,
    ),
    # "what's dmitriev's actual role", "what is Rubio's job"
    re.compile(
        rf"\bwhat(?:['’]s|\s+is|\s+was)\s+(?P<who>(?:[\w.-]+\s+)?[\w.-]+)['’]s\s+(?:[\w-]+\s+)?{_ROLE_NOUNS}\b",
        re.I,
    ),
    # "who is Karoline Leavitt?", "who's kirill dmitriev"
    re.compile(
        r"^\s*who(?:\s+(?:exactly|actually|really))?(?:['’]s|\s+is|\s+was)\s+(?P<who>[^?,;]+?)\s*\??\s*$",
        re.I,
    ),
    # "what does Witkoff do?"
    re.compile(
        r"^\s*what\s+(?:does|did)\s+(?P<who>[\w’'.-]+(?:\s+[\w’'.-]+)?)\s+do\s*(?:for\s+a\s+living)?\s*\??\s*$",
        re.I,
    ),
    # «кто такой Дмитриев», «хто такий Дмитрієв»: the name is English only in the articles, so
    # Russian and Ukrainian questions are left to the ordinary answer.
]
MAX_WORDS = 16
_FRAME = frozenset(
    "the a an does did do is was has have had give gives gave article report hold holds".split()
)


def asked_person(question: str, sentences) -> frozenset[str]:
    """Name keys (``who.name_key``) of the person whose role or title the question asks, among
    the names ``sentences`` show; empty when it asks no such thing."""
    if len(question.split()) > MAX_WORDS:  # a long question asks about more than what someone is
        return frozenset()
    known = None  # the names the sentences show: learned only once a pattern matches
    for n, pattern in enumerate(_ASKS_ROLE):
        match = pattern.search(question)
        if match:
            known = actors(sentences) if known is None else known
            words = re.findall(r"[\w’'.-]+", match.group("who"))
            keys = {name_key(w) for w in words if w.lower() not in _FRAME and len(name_key(w)) > 1}
            # "who is …" asks what someone is only when all it names is a person ("who is
            # leading the talks" asks for a person instead).
            if keys & known and (n < 2 or keys <= known):
                return frozenset(keys & known)
    return frozenset()


def title_of(sentence: str, keys: frozenset[str]) -> str | None:
    """The title ``sentence`` gives the person named by ``keys`` (lower case), or None."""
    words = sentence_words(sentence)
    for i, word in enumerate(words):
        if name_key(word) not in keys:
            continue
        start = i  # back over the rest of the name: "Kirill Dmitriev"
        while (
            i - start < 2
            and start > 0
            and words[start - 1][0].isupper()
            and words[start - 1].lower() not in _ROLES
            and not (start >= 2 and words[start - 2].lower() == "of")  # "Secretary of State Marco"
        ):
            start -= 1
        before = []
        j = start - 1
        while j >= 0 and len(before) < 5 and (words[j][0].isupper() or words[j].lower() in _ROLES | {"of"}):
            before.insert(0, words[j])
            j -= 1
        if before and before[0].lower() == "of":
            before = before[1:]
        if any(w.lower().rstrip(".") in _ROLES for w in before):
            return " ".join(before).lower()
        end = i + 1  # an apposition: "Marta Lysenko, Ukraine's lead negotiator,"
        if end < len(words) and words[end] == ",":
            phrase = []
            for w in words[end + 1 : end + 8]:
                if w in ",;:()—–":
                    break
                phrase.append(w)
            if any(w.lower() in _ROLES for w in phrase):
                return " ".join(phrase).lower()
    return None


def titled(candidates: list, keys: frozenset[str], limit: int) -> list:
    """One candidate sentence per distinct title the person gets, in reading order."""
    order: dict[str, int] = {}
    for cand in candidates:  # articles in the order retrieval ranks them
        order.setdefault(cand.doc, len(order))
    seen: dict[str, object] = {}
    for cand in sorted(candidates, key=lambda c: (order[c.doc], c.start)):
        title = title_of(cand.text, keys)
        if title and title not in seen:
            seen[title] = cand
    return list(seen.values())[:limit]
