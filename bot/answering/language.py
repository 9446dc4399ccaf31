"""The question's language and the few sentences the bot writes itself in it.

Articles are English and citations quote them verbatim, never translated; Russian and Ukrainian
questions get the framing sentence and the refusal in their own language. Ukrainian is told from
Russian by the letters only Ukrainian has (і ї є ґ) and by common words each language alone uses.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "ru", "uk")

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_UK_LETTERS = re.compile(r"[іїєґІЇЄҐ]")
_RU_LETTERS = re.compile(r"[ыэъёЫЭЪЁ]")
_UK_WORDS = frozenset(
    "що як чи який яка які хто де коли скільки чому та також це було були після щодо".split()
)
_RU_WORDS = frozenset("что как ли какой какая какие кто где когда сколько почему это было были после".split())

REFUSALS = {
    "en": "The indexed articles don't say — I couldn't find an answer to that in them.",
    "ru": "В статьях об этом ничего не сказано — ответа на этот вопрос в них нет.",
    "uk": "У статтях про це нічого не сказано — відповіді на це питання в них немає.",
}
# Before the English quotes of an answer to a Russian or Ukrainian question.
FRAMINGS = {
    "en": "",
    "ru": "Вот что говорится в статьях (цитаты на английском):",
    "uk": "Ось що сказано в статтях (цитати англійською):",
}


def detect_language(text: str) -> str:
    """ "ru" or "uk" for a question mostly in Cyrillic, else "en" (other languages are refused
    before this by bot.answering.question)."""
    letters = [ch for ch in text if ch.isalpha()]
    cyrillic = sum(1 for ch in letters if _CYRILLIC.match(ch))
    if not letters or cyrillic <= 0.3 * len(letters):
        return "en"
    words = set(re.findall(r"[^\W\d_]+", text.lower()))
    uk = len(_UK_LETTERS.findall(text)) + 2 * len(words & _UK_WORDS)
    ru = len(_RU_LETTERS.findall(text)) + 2 * len(words & _RU_WORDS)
    return "uk" if uk > ru else "ru"


# Outlets are recognised in English questions only ("a Bloomberg article"), so the message is English.
MISSING_OUTLETS = "None of the indexed articles is from {names}, so there is no report of theirs to quote."


def refusal(language: str, missing_outlets: list[str] | None = None) -> str:
    if missing_outlets:
        names = (
            missing_outlets[0]
            if len(missing_outlets) == 1
            else ", ".join(missing_outlets[:-1]) + " or " + missing_outlets[-1]
        )
        return MISSING_OUTLETS.format(names=names)
    return REFUSALS.get(language, REFUSALS["en"])


def framing(language: str) -> str:
    return FRAMINGS.get(language, "")
