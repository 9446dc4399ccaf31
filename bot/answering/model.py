"""What an answer is: the text with its ``[n]`` markers, the citations (exact article spans) and,
when a generated answer was not used, why. Plain data, shared by every backend and every front end.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field

REFUSAL = "The indexed articles don't say — I couldn't find an answer to that in them."
DEFAULT_MAX_QUESTION_CHARS = 1000  # room for long multi-part questions (MultiHop-RAG: up to 511)


class QuestionError(ValueError):
    """The question cannot be asked as given; the message tells the asker why and what to do."""


class AnswerBusy(RuntimeError):
    """Too many answers are being worked on and waiting (admission control): ask again soon."""


class AnswerTimeout(TimeoutError):
    """The answer was not ready by its deadline (ANSWER_TIMEOUT_S, queueing included)."""


@dataclass(frozen=True)
class Citation:
    """An exact span of an article: ``quote == article.text[start:end]``. ``n`` is its number
    in the answer (or, for the sources given to a model, the source number)."""

    n: int
    doc: str
    title: str
    source: str | None
    published: str | None
    quote: str
    start: int
    end: int

    @property
    def header(self) -> str:
        """Title, outlet and date in one line (what a generated sentence may also draw on)."""
        return " ".join(part for part in (self.title, self.source, self.published) if part)


class FallbackKind(enum.Enum):
    """Why the extractive answer was given instead of a generated one."""

    NOT_ASKED = "not_asked"  # retrieval found nothing to give the model
    REJECTED = "rejected"  # a sentence failed verification (see Fallback.check)
    TIMED_OUT = "timed_out"
    BUSY = "busy"  # the local model's queue was full
    FAILED = "failed"  # the backend raised (connection refused, HTTP error, ...)
    EMPTY = "empty"  # the model returned no text
    MODEL_REFUSED = "model_refused"  # the model said the sources don't contain the answer
    NO_MARKERS = "no_markers"  # no sentence carried a valid citation marker


class CheckFailure(enum.Enum):
    """Which verification check rejected a generated sentence."""

    INVALID_MARKER = "invalid_marker"  # cites a source it was not given
    FAKE_QUOTE = "fake_quote"  # quotes words its source does not contain
    UNSUPPORTED = "unsupported"  # the cited source does not support it
    FOREIGN_LINK = "foreign_link"  # a URL, domain, e-mail address or mention its source does not have


@dataclass(frozen=True)
class Fallback:
    """Structured reason for a fallback. ``detail`` may quote the model's unverified text (for the
    database, the log and ``ask --json``); ``check`` and ``sentence`` are what front ends show."""

    kind: FallbackKind
    detail: str = ""
    sentence: int | None = None  # 1-based position of the rejected sentence (REJECTED)
    check: CheckFailure | None = None  # the check that failed (REJECTED)

    def __str__(self) -> str:
        return self.detail or self.kind.value


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    backend: str = "extractive"
    fallback: Fallback | None = None
    index_version: str | None = None

    @property
    def fallback_reason(self) -> str | None:
        return str(self.fallback) if self.fallback is not None else None

    def to_json(self) -> dict:
        data = asdict(self)
        del data["fallback"]
        if self.fallback is not None:
            data["fallback_reason"] = self.fallback_reason
        return data


_TRAILING = re.compile(r"([.!?…]+[»\"”’')\]]*)$")


def with_markers(sentence: str, numbers) -> str:
    """``Putin accepted … proposal [1][2].`` — the markers go before the closing punctuation."""
    tags = "".join(f"[{n}]" for n in numbers)
    match = _TRAILING.search(sentence)
    if match and match.group(1)[-1] in ".!?…":
        return f"{sentence[: match.start()]} {tags}{match.group(1)}"
    return f"{sentence} {tags}"
