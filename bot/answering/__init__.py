"""Question → answer with exact-span citations, or a refusal. No Discord here.

- ``model``: Answer, Citation, Fallback (why a generated answer was not used), QuestionError,
  AnswerBusy and AnswerTimeout (admission control)
- ``question``: checking and normalising the question; follow-ups in context
- ``lexical``: content words and their idf weights
- ``extractive``: the default answerer, quoting whole sentences of the retrieved chunks
- ``prompt``, ``verify``, ``backends``, ``generative``: optional model-written answers, verified
  sentence by sentence before anything is shown (docs/GENERATION.md)
- ``factory``: ``build_answerer(settings)``, the one place that knows every backend
  (import it from there: this package face stays light, it loads no model or index code)
- ``service``: ``AnswerService``, the async face (CPU work off the event loop, admission control,
  one deadline per answer)
"""

from bot.answering.model import (
    REFUSAL,
    Answer,
    AnswerBusy,
    AnswerTimeout,
    CheckFailure,
    Citation,
    Fallback,
    FallbackKind,
    QuestionError,
)
from bot.answering.question import clean_question, contextualize

__all__ = [
    "REFUSAL",
    "Answer",
    "AnswerBusy",
    "AnswerTimeout",
    "CheckFailure",
    "Citation",
    "Fallback",
    "FallbackKind",
    "QuestionError",
    "clean_question",
    "contextualize",
]
