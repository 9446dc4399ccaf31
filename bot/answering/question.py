"""The question as text: checked and normalised (``clean_question``), and a follow-up read in
the context of the conversation before it (``contextualize``). How a question was typed on a
chat platform (mentions, markdown) is the front end's to remove before it gets here."""

from __future__ import annotations

import re
import unicodedata

from bot.answering.model import DEFAULT_MAX_QUESTION_CHARS, QuestionError

_SCRIPT_NAMES = {
    "CYRILLIC": "Cyrillic",
    "ARABIC": "Arabic",
    "CJK": "Chinese/Japanese",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "HANGUL": "Korean",
    "GREEK": "Greek",
    "HEBREW": "Hebrew",
    "DEVANAGARI": "Devanagari",
}
_FOREIGN_FUNCTION_WORDS = frozenset(
    "que qué quién cuál dónde cómo el los las der die das und ist wer wie was wo est le les qui quoi où comment une "
    "des il chi cosa dove hat haben dem nicht sind ce qu du sont ont del por para ha han".split()
)
_ENGLISH_WORDS = frozenset(
    "the a an of to in on and is are was were did do does what who whom which where when why how will would can "
    "could should has have had about with from by for".split()
)


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return next(
        (label for key, label in _SCRIPT_NAMES.items() if name.startswith(key)),
        "LATIN" if ch.isascii() or "LATIN" in name else "OTHER",
    )


def clean_question(raw: str, max_chars: int = DEFAULT_MAX_QUESTION_CHARS) -> str:
    """Normalise a question or raise QuestionError naming what is wrong with it."""
    if not isinstance(raw, str):
        raise QuestionError("The question must be text.")
    # Zero-width and other invisible format characters carry no meaning; drop them.
    text = "".join(ch for ch in raw if unicodedata.category(ch) != "Cf")
    bad = sorted(
        {f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"}
    )
    if bad:
        raise QuestionError(
            f"The question contains control characters ({', '.join(bad[:3])}); please send plain text."
        )
    text = " ".join(text.split())
    if not text:
        raise QuestionError(
            "The question is empty. Ask something about the indexed articles, e.g. “What did Putin agree to?”"
        )
    if len(text) > max_chars:
        raise QuestionError(
            f"The question is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it."
        )
    letters = [ch for ch in text if ch.isalpha()]
    if not letters and not any(ch.isdigit() for ch in text):
        raise QuestionError("The question has no words in it (only symbols or emoji). Please ask in words.")
    scripts = [_script(ch) for ch in letters]
    foreign = [s for s in scripts if s not in ("LATIN", "Cyrillic")]
    if len(foreign) > 0.3 * len(scripts):
        name = max(set(foreign), key=foreign.count)
        name = "a non-Latin" if name == "OTHER" else f"{name}"
        raise QuestionError(
            f"The question looks like it is written in {name} script; I can answer questions in English, "
            "Russian or Ukrainian (the articles are English; quotes stay in English)."
        )
    words = re.findall(r"[^\W\d_]+", text.lower())
    # More of another language's function words than of English's: some are spelled alike
    # ("Qu'est-ce que Poutine a accepté?" has an "a", "Was hat Putin akzeptiert?" a "was").
    if len(words) >= 3 and len(_FOREIGN_FUNCTION_WORDS.intersection(words)) > len(
        _ENGLISH_WORDS.intersection(words)
    ):
        raise QuestionError(
            "The question does not look like English, Russian or Ukrainian; I can answer questions in "
            "those three languages (the articles are English; quotes stay in English)."
        )
    return text


_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|and what|why|so)\b"
    r"|\b(it|they|them|he|she|his|her|their|that|this|those|these|there)\b",
    re.I,
)


def contextualize(question: str, history: list[str]) -> str:
    """The retrieval query for a follow-up: short or pronoun-led questions borrow the previous question."""
    if not history:
        return question
    if len(question.split()) <= 6 or _FOLLOW_UP.search(question):
        return f"{history[-1]} {question}"
    return question
