"""Two checks of a generated sentence against the spans it cites that word overlap and embedding
similarity cannot make (used by ``bot.answering.verify``):

- **Links, addresses and mentions** (``foreign_links``): every URL, web domain, e-mail address
  and Discord/@-mention in the sentence must occur in the cited spans (or their title, source,
  date). A model can otherwise append "… said at https://evil.example [1]." to a true sentence:
  the new words are too few to fail the overlap test, and the link would be shown.
- **Roles** (``role_swap``): who does what. "The Russian side exchanged prisoners of the
  Ukrainian side" has exactly the words of "The Ukrainian side exchanged prisoners of the Russian
  side", and MiniLM puts the two almost on top of each other. Each name phrase ("Putin", "the
  Russian side", "U.S. President Donald Trump and Russian President Vladimir Putin") is bound to
  the first content word after it in its clause (its verb, or what it qualifies); a sentence
  binds a word to a name the cited spans never bind it to, while they do bind that word — and
  only to other names — is a role swap. Words the spans use unbound are not judged (a paraphrase
  may bind what the source left loose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answering.lexical import content_terms
from index.chunking import sentence_spans

# ---------------------------------------------------------------- links, addresses, mentions

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>\"“”«»]+|\bwww\.[^\s<>\"“”«»]+", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>|@\w[\w.]*")
_DOMAIN = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b", re.I)
_TRAILING = ".,;:!?)]}»”’'\""


def links_in(text: str) -> list[str]:
    """URLs, e-mail addresses, mentions and domains in ``text``, lower-cased, in order."""
    found = []
    for pattern in (_URL, _EMAIL, _MENTION, _DOMAIN):
        for match in pattern.finditer(text):
            token = match.group(0).rstrip(_TRAILING).lower()
            if token:
                found.append(token)
        text = pattern.sub(" ", text)  # a URL's domain or an address's @ is not counted twice
    return found


def foreign_links(text: str, evidence: str) -> list[str]:
    """The links, addresses and mentions of ``text`` that ``evidence`` does not contain."""
    haystack = evidence.lower()
    return [token for token in links_in(text) if token not in haystack]


# ---------------------------------------------------------------- roles

ROLE_WINDOW = 1  # content words after a name phrase that count as bound to it (its verb or noun)
# Generic nouns that belong to the name before them: "the Russian side", "Ukrainian officials".
_ACTOR_NOUNS = frozenset(
    """side sides delegation delegations government governments official officials envoy envoys
    negotiator negotiators president minister ministers ministry leader leaders team forces troops
    army military authorities spokesman spokeswoman spokesperson parliament embassy counterpart
    counterparts administration""".split()
)
_CLAUSE = re.compile(r"[,;:()\[\]—–]|\s-\s")
_TOKEN = re.compile(r"[^\W_](?:[\w’'.-]*[^\W_])?")
_CONNECTORS = frozenset({"and", "of", "the", "&", "or"})  # inside a name phrase
_NAME_PART = re.compile(r"[-.’']")


def name_keys(token: str) -> frozenset[str]:
    """What a capitalised token names, as comparable keys: each capitalised part's first five
    letters, lower-cased ("Trump’s" → trump, "Russian"/"Russia" → russi, "U.S." → none)."""
    return frozenset(
        part[:5].lower() for part in _NAME_PART.split(token) if len(part) > 1 and part[0].isupper()
    )


@dataclass(frozen=True)
class Binding:
    names: frozenset[str]  # the keys of the name phrase
    word: str  # a stemmed content word after it
    phrase: str  # the phrase as written (for the message)
    token: str  # the word as written


def _tokens(sentence: str) -> list[tuple[str, bool]]:
    """(token, starts a clause) for a sentence; clause breaks are kept as ("", True) markers."""
    out: list[tuple[str, bool]] = []
    for i, clause in enumerate(_CLAUSE.split(sentence)):
        tokens = _TOKEN.findall(clause)
        if i:
            out.append(("", True))
        out += [(t, j == 0 and i == 0) for j, t in enumerate(tokens)]
    return out


def known_names(*texts: str) -> set[str]:
    """Keys of tokens capitalised where grammar does not ask for it (not the first word of a
    sentence): a sentence's first word counts as a name only if it is one of these."""
    keys: set[str] = set()
    for text in texts:
        for a, b in sentence_spans(text):
            for token, first in _tokens(text[a:b]):
                if token and not first and content_terms(token):
                    keys |= name_keys(token)
    return keys


def bindings(text: str, known: set[str]) -> tuple[list[Binding], set[str]]:
    """The name-word bindings of ``text``, and the content words it uses unbound."""
    bound: list[Binding] = []
    unbound: set[str] = set()
    for a, b in sentence_spans(text):
        phrase: list[str] = []  # the current name phrase's tokens
        keys: frozenset[str] = frozenset()
        left = 0  # content words still to bind to it
        connectors = 0
        for token, first in _tokens(text[a:b]):
            if not token:  # a clause break ends the phrase and its window
                phrase, keys, left, connectors = [], frozenset(), 0, 0
                continue
            token_keys = name_keys(token) if content_terms(token) else frozenset()
            if token_keys and first and not token_keys & known:
                token_keys = frozenset()  # a capitalised first word that is no name elsewhere
            if token_keys:
                if phrase and (left == ROLE_WINDOW or connectors):  # still the same phrase
                    phrase.append(token)
                    keys |= token_keys
                else:
                    phrase, keys = [token], token_keys
                left, connectors = ROLE_WINDOW, 0
                continue
            if phrase and left == ROLE_WINDOW and token.lower() in _CONNECTORS and connectors < 2:
                connectors += 1
                continue
            if phrase and left == ROLE_WINDOW and not connectors and token.lower() in _ACTOR_NOUNS:
                phrase.append(token)  # "the Russian side": still the phrase, not what it does
                continue
            connectors = 0
            words = content_terms(token)
            if not words:
                continue
            if left > 0:
                bound += [Binding(keys, w, " ".join(phrase), token) for w in words]
                left -= 1
            else:
                unbound.update(words)
    return bound, unbound


def role_swap(text: str, spans: list[str], titles: list[str]) -> tuple[Binding, Binding] | None:
    """(the sentence's binding, one the spans have instead) when ``text`` gives a word to a name
    the cited spans never give it to, while the spans do give that word — only to other names.
    None when no role is swapped (or none can be told)."""
    known = known_names(text, *spans, *titles)
    evidence_bound: dict[str, list[Binding]] = {}
    evidence_unbound: set[str] = set()
    evidence_names: set[str] = set()
    for span in spans:
        found, loose = bindings(span, known)
        for binding in found:
            evidence_bound.setdefault(binding.word, []).append(binding)
            evidence_names |= binding.names
        evidence_unbound |= loose
        evidence_names |= known_names(span) | {k for k in known if k in span.lower()}
    sentence_bound, _ = bindings(text, known)
    for binding in sentence_bound:
        if not binding.names & evidence_names or binding.word in evidence_unbound:
            continue  # a name the spans lack (the names check's business) or a loose word
        theirs = evidence_bound.get(binding.word)
        if theirs and not any(binding.names & other.names for other in theirs):
            return binding, theirs[0]
    return None
