"""Typos in English questions ("negotations", "presidnets", "dmitreiv"): a misspelled word matches
no article, so the keyword signals count it as something the articles lack and the question is
refused. Only a word that neither the articles nor an English dictionary know is corrected, by one
edit, and only to a word the articles use (a stop word counts as used): the dictionary's most
frequent correction (pyspellchecker, offline), else the articles' most used word one edit away
(names: "Witkof" → Witkoff). A capitalised word inside the question is a name: only the second
applies. The question shown to users keeps the user's spelling; only what is searched and weighed
is corrected."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
MIN_LENGTH = 4  # shorter words have too many one-edit neighbours ("wat": was, way, war, what)
NAME_LENGTH = 6  # and a name is looked for among the articles' words from this length


@lru_cache(maxsize=1)
def _dictionary():
    from spellchecker import SpellChecker

    # One edit: enough for the usual slip (a swapped, dropped or doubled letter), and a search
    # two edits deep costs up to seconds for a long unknown word.
    return SpellChecker(language="en", distance=1)


def correct(text: str, in_articles: Callable[[str], int]) -> str:
    """``text`` with its misspelled words corrected; ``in_articles(word)`` is how many of the
    articles' chunks use the word (lower case; 0: none), and such words are never changed."""
    dictionary = _dictionary()

    def fix(match: re.Match) -> str:
        word = match.group(0)
        lower = word.lower()
        if len(word) < MIN_LENGTH or "'" in word or "’" in word or any(c.isupper() for c in word[1:]):
            return word  # short, a possessive or an acronym
        if lower in dictionary or in_articles(lower):
            return word
        name = word[0].isupper() and match.start() > 0  # capitalised inside the question
        fixed = None if name else dictionary.correction(lower)
        if not fixed or fixed == lower or not in_articles(fixed):
            # A correction the articles don't use either changes no match, and a word missing
            # from the dictionary ("admins", "convo") would only be turned into another word.
            fixed = None
        if fixed is None and len(lower) >= NAME_LENGTH:
            # A name the articles use, one edit away ("dmitreiv": Dmitriev): not in the dictionary.
            # Letters only: "beyonce" is not "be'once" (two stop words, which count as used).
            used = [(in_articles(c), c) for c in dictionary.edit_distance_1(lower) if c.isalpha()]
            fixed = max((u for u in used if u[0]), default=(0, None))[1]
        if fixed is None:
            return word
        return fixed.capitalize() if word[0].isupper() else fixed

    return _WORD.sub(fix, text)


def one_edit_apart(word: str, target: str) -> bool:
    """Whether ``word`` is ``target`` or one edit from it (a letter wrong, missing, extra, or two
    swapped: "peice" ~ "piece"), by the dictionary's own edit generator."""
    return word == target or target in _dictionary().edit_distance_1(word)
