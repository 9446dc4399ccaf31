"""Typos in English questions ("negotations", "presidnets", "actaul"): a misspelled word matches no
article, so the keyword signals count it as something the articles lack and the question is
refused. A word is corrected only when neither the articles nor an English dictionary know it,
only by one edit (pyspellchecker's dictionary, the most frequent correction), and only to a word
the articles use (a stop word counts as used); names the articles use, and capitalised words
inside the question (names), are left alone. The question
shown to users keeps the user's spelling; only what is searched and weighed is corrected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
MIN_LENGTH = 4  # shorter words have too many one-edit neighbours ("wat": was, way, war, what)


@lru_cache(maxsize=1)
def _dictionary():
    from spellchecker import SpellChecker

    # One edit: enough for the usual slip (a swapped, dropped or doubled letter), and a search
    # two edits deep costs up to seconds for a long unknown word.
    return SpellChecker(language="en", distance=1)


def correct(text: str, in_articles: Callable[[str], bool]) -> str:
    """``text`` with its misspelled words corrected; ``in_articles(word)`` tells whether the
    articles use the word (lower case), and such words are never changed."""
    dictionary = _dictionary()

    def fix(match: re.Match) -> str:
        word = match.group(0)
        lower = word.lower()
        if len(word) < MIN_LENGTH or "'" in word or "’" in word:
            return word
        if any(c.isupper() for c in word[1:]) or (word[0].isupper() and match.start() > 0):
            return word  # an acronym, or a name inside the question: the articles may just lack it
        if lower in dictionary or in_articles(lower):
            return word
        fixed = dictionary.correction(lower)
        if not fixed or fixed == lower or not in_articles(fixed):
            # A correction the articles don't use either changes no match, and a word missing
            # from the dictionary ("admins", "convo") would only be turned into another word.
            return word
        return fixed.capitalize() if word[0].isupper() else fixed

    return _WORD.sub(fix, text)
