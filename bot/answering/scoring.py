"""How likely a sentence is to answer a question: its signals and the fitted model that combines them.

Signals (``FEATURES``), all measured per candidate sentence of the retrieved chunks:
- ``sem``: cosine of the question's and the sentence's multilingual-e5 vectors (paraphrases and
  other languages), and ``sem_gap``, how far below the question's best candidate it is;
- ``part_sem``: the best cosine with one part of a question that asks several things;
- ``prev_sem``: the cosine of the sentence before it ("This raises concerns …" answers what its
  predecessor is about);
- ``lex``: the share of the question's idf-weighted content words the sentence contains (English
  questions; a sentence that refers back, "This raises …", also holds the words of the one
  before it), and ``lex_gap`` below the best;
- ``weight``: the idf weight of the question's keywords it holds (a tenth of it: two
  distinctive words ≈ 1), an absolute measure where ``lex`` is a share;
- ``unseen``: the share of the question's keyword weight that no candidate sentence holds (the
  same for every candidate: "the population of Kyiv" over articles that never mention population);
- ``corpus``: log10 of the index's chunk count (over many articles something always looks related,
  so a large corpus asks for stronger evidence than a single article);
- ``chunk``: its chunk's fused retrieval score relative to the best chunk, and ``first``, whether
  it is in the best chunk.
A logistic model over them (weights in calibration.json, fitted by ``bot.tools.calibrate`` on dev
questions with cross-validation) gives the probability that the sentence answers the question; a
second one, over the question's candidates as a whole (``QUESTION_FEATURES``), whether to answer
at all. The thresholds that decide answer/refuse and further sentences are fitted with them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.answering.lexical import content_terms, term_weights
from index.chunking import node_sentences
from index.retrieval import Hit

FEATURES = (
    "sem",
    "sem_gap",
    "part_sem",
    "prev_sem",
    "lex",
    "lex_gap",
    "weight",
    "unseen",
    "chunk",
    "first",
    "english",
    "corpus",
)
CALIBRATION_PATH = Path(__file__).with_name("calibration.json")


# Whether the question is answered at all is a second model over the question's candidates as a
# whole: how likely its best sentence is, how far ahead of the next, its best similarity, the
# keyword weight it holds, what the articles lack, corpus size and language.
QUESTION_FEATURES = ("best", "lead", "best_sem", "best_weight", "unseen", "corpus", "english")


@dataclass(frozen=True)
class Logistic:
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]  # feature standardisation fitted with the weights
    scales: tuple[float, ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype="float64") - np.asarray(self.means)) / np.asarray(self.scales)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def to_json(self) -> dict:
        return {
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "means": [round(float(m), 6) for m in self.means],
            "scales": [round(float(v), 6) for v in self.scales],
        }

    @classmethod
    def from_json(cls, data: dict) -> Logistic:
        return cls(tuple(data["weights"]), data["bias"], tuple(data["means"]), tuple(data["scales"]))


NEVER = 1.01  # a threshold no probability reaches


@dataclass(frozen=True)
class Calibration:
    sentence: Logistic  # P(this sentence answers the question), over FEATURES
    question: Logistic  # P(the question is answerable from these candidates), over QUESTION_FEATURES
    answer_threshold: float  # the question model must reach it, or the question is refused
    extra_threshold: float  # further sentences' own probability must reach it
    llm_threshold: float  # a model is given the sources when the question model reaches it
    part_z: float = 2.0  # a part's own sentence stands out by this many deviations of its similarity
    # A further sentence of an article already quoted must reach it (above 1: never): two
    # sentences of one report that each answer part of the question ("upbeat" and "cautious").
    same_article_threshold: float = NEVER
    # A question naming two or more reports ("according to Fortune … as The Age reported") is
    # answered below the answer threshold when each report has a sentence with the asked detail
    # at this probability: every report the user points at speaks to it (above 1: never).
    reports_threshold: float = NEVER
    fitted: dict = field(default_factory=dict)  # how and on what it was fitted (for the docs)

    def answerable(self, candidates: list) -> float:
        """The question model's probability for a question with these (scored) candidates."""
        if not candidates:
            return 0.0
        p = np.array([c.probability for c in candidates])
        detail = np.array([c.has_detail for c in candidates])
        x = np.array([[c.features[f] for f in FEATURES] for c in candidates], dtype="float64")
        return float(self.question(question_features(p, detail, x)))


def question_features(p: np.ndarray, detail: np.ndarray, x: np.ndarray) -> np.ndarray:
    """QUESTION_FEATURES of one question from its candidates' probabilities ``p``, which of them
    hold the asked-for detail, and their FEATURES rows ``x`` (the answerer and the calibration
    tool both call this)."""
    usable = np.flatnonzero(detail)
    if not len(usable):
        return np.zeros(len(QUESTION_FEATURES))
    order = usable[np.argsort(-p[usable], kind="stable")]
    best = order[0]
    col = {f: i for i, f in enumerate(FEATURES)}
    values = {
        "best": p[best],
        "lead": p[best] - (p[order[1]] if len(order) > 1 else 0.0),
        "best_sem": x[:, col["sem"]].max(),
        "best_weight": x[:, col["weight"]].max(),
        "unseen": x[best, col["unseen"]],
        "corpus": x[best, col["corpus"]],
        "english": x[best, col["english"]],
    }
    return np.array([values[k] for k in QUESTION_FEATURES], dtype="float64")


def select(
    p: np.ndarray,
    detail: np.ndarray,
    docs: list[str],
    part_sims: np.ndarray,
    answerable: float,
    threshold: float,
    cal: Calibration,
    max_sentences: int = 3,
    vectors: np.ndarray | None = None,
    max_repeat: float = 0.97,
    reports: np.ndarray | None = None,
) -> list[int]:
    """Which candidates an answer quotes (indices; empty: refuse). The one rule, shared by the
    answerer and the calibration tool:
    1. refuse unless the question model's probability ``answerable`` reaches ``threshold``;
    2. the most probable sentence that holds the asked-for detail;
    3. for a question in several parts, each part's most similar sentence, if its similarity to
       the part stands out from the other candidates' by ``part_z`` standard deviations;
    4. then sentences from articles not cited yet that reach ``extra_threshold`` (one fact told
       by two articles, a comparison across outlets), and sentences of an article already cited
       that reach ``same_article_threshold`` (a question whose parts one report answers)."""
    order = [int(i) for i in np.argsort(-p, kind="stable") if detail[i]]
    if not order or (answerable < threshold and not reports_covered(p, detail, reports, cal)):
        return []
    chosen = [order[0]]

    def add(i: int) -> None:
        if len(chosen) >= max_sentences or i in chosen:
            return
        if vectors is not None and any(float(vectors[i] @ vectors[j]) > max_repeat for j in chosen):
            return
        chosen.append(i)

    if part_sims.ndim == 2 and part_sims.shape[1] >= 2 and len(order) > 2:
        for j in range(part_sims.shape[1]):
            sims = part_sims[order, j]
            spread = float(sims.std()) or 1.0
            top = int(np.argmax(sims))
            if (sims[top] - float(sims.mean())) / spread >= cal.part_z:
                add(order[top])
    for i in order[1:]:
        if p[i] < min(cal.extra_threshold, cal.same_article_threshold):
            break
        cited = docs[i] in {docs[k] for k in chosen}
        if p[i] >= (cal.same_article_threshold if cited else cal.extra_threshold):
            add(i)
    return chosen


def reports_covered(p: np.ndarray, detail: np.ndarray, reports: np.ndarray | None, cal: Calibration) -> bool:
    """Whether the question names two or more reports (``reports``: candidates × named reports,
    which candidate comes from which) and each has a sentence holding the asked detail at
    ``cal.reports_threshold``."""
    if reports is None or reports.ndim != 2 or reports.shape[1] < 2 or cal.reports_threshold > 1:
        return False
    usable = detail & (p >= cal.reports_threshold)
    return bool(all((usable & reports[:, j]).any() for j in range(reports.shape[1])))


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES or tuple(data["question_features"]) != QUESTION_FEATURES:
        raise ValueError(
            f"{path}: fitted on features {data['features']} / {data['question_features']}, "
            f"the code has {FEATURES} / {QUESTION_FEATURES}"
        )
    return Calibration(
        Logistic.from_json(data["sentence"]),
        Logistic.from_json(data["question"]),
        data["answer_threshold"],
        data["extra_threshold"],
        data["llm_threshold"],
        data.get("part_z", 2.0),
        data.get("same_article_threshold", NEVER),
        data.get("reports_threshold", NEVER),
        data.get("fitted") or {},
    )


@dataclass
class Candidate:
    hit: Hit
    rank: int  # of its chunk among the hits
    doc: str
    start: int
    end: int
    text: str
    vector: np.ndarray  # multilingual unit vector (zeros when the index has none)
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0
    has_detail: bool = True
    part_sims: tuple[float, ...] = ()  # cosine with each part of a question that asks several things
    reports: tuple[bool, ...] = ()  # from each report (outlet) the question names

    @property
    def key(self) -> tuple[str, int, int]:
        return self.doc, self.start, self.end


_PART_SPLIT = re.compile(
    r"\?\s+|;\s*|,?\s+\b(?:(?:and|vs\.?|versus|compared to|compared with) "
    r"(?=(?:what|who|where|when|how|why|which|did|does|do|is|are|was|were|will)\b)"
    r"|also|as well as|и (?=(?:что|кто|где|когда|как|почему|сколько)\b)|а также"
    r"|і (?=(?:що|хто|де|коли|як|чому|скільки)\b)|та (?=(?:що|хто|де|коли|як|чому|скільки)\b)|а ще)\b",
    re.I,
)


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks several things ("who X, and where Y?"); [] for one."""
    parts = [p.strip(" ,.?!") for p in _PART_SPLIT.split(question)]
    parts = [p for p in parts if p and len(p.split()) >= 2]
    return parts[:3] if len(parts) >= 2 else []


_ANAPHOR = re.compile(
    r"(?:This|That|These|Those|Such)\b(?!\s+(?:week|month|year|morning|evening|time|weekend)\b)"
)


def candidates_of(
    query: str,
    language: str,
    hits: list[Hit],
    retriever,
    query_vector: np.ndarray,
    part_vectors: list[np.ndarray],
    calibration: Calibration,
    words: list[str] | None = None,
) -> list[Candidate]:
    """Every distinct sentence of ``hits`` with its signals and probability. ``words``: what the
    keyword signals weigh when not the query's own words (a Russian or Ukrainian question: the
    words it shares with the articles, who.cyrillic_terms)."""
    english = language == "en"
    metadata = getattr(retriever, "metadata_index", None)
    per_chunk = words is not None and not english
    if words is None:
        words = [metadata.without_mentions(query) if metadata is not None else query] if english else []
    terms = content_terms(" ".join(words))
    idf = term_weights(terms, retriever) if terms else {}
    total = sum(idf.values()) or 1.0
    top_score = max((h.score for h in hits), default=0.0)
    version = retriever.version
    corpus = math.log10(max(10, version.n_chunks))
    q = np.asarray(query_vector, dtype="float32")
    parts = [np.asarray(p, dtype="float32") for p in part_vectors]
    out: list[Candidate] = []
    seen: set[tuple[str, int, int]] = set()
    found_terms: set[str] = set()
    for rank, hit in enumerate(hits):
        node = hit.node
        base = node.start_char_idx or 0
        spans = node_sentences(node) or [(base, base + len(node.text))]
        vectors = version.sentence_vectors(hit.row) if hit.row >= 0 else None
        if vectors is None or len(vectors) != len(spans):
            vectors = np.zeros((len(spans), len(q)), dtype="float32")
        doc = node.metadata.get("doc")
        previous = None  # the sentence before, in the chunk
        previous_terms: set[str] = set()
        # Names locate the article, but the sentence that answers may not repeat them ("it",
        # "the company"): shared words (another language) count for every sentence of the chunk.
        chunk_terms = set(content_terms(node.text)) & set(idf) if per_chunk and idf else None
        for (start, end), vector in zip(spans, vectors):
            vector = np.asarray(vector, dtype="float32")
            sem, prev_sem, previous = float(vector @ q), previous, float(vector @ q)
            text = node.text[start - base : end - base]
            own_terms = chunk_terms if chunk_terms is not None else set(content_terms(text)) if idf else set()
            # "This raises concerns about …" is about what the sentence before says: it holds
            # that sentence's words too ("what concerns does dividing the assets raise?").
            sentence_terms = own_terms | previous_terms if _ANAPHOR.match(text) else own_terms
            previous_terms = own_terms
            if (doc, start, end) in seen:  # the same sentence in two overlapping chunks
                continue
            seen.add((doc, start, end))
            found_terms |= sentence_terms
            cand = Candidate(hit, rank, doc, start, end, text, vector)
            cand.part_sims = tuple(float(vector @ p) for p in parts)
            cand.features = {
                "sem": sem,
                "prev_sem": sem if prev_sem is None else prev_sem,
                "part_sem": max((float(vector @ p) for p in parts), default=float(vector @ q)),
                "lex": sum(w for t, w in idf.items() if t in sentence_terms) / total,
                "weight": sum(w for t, w in idf.items() if t in sentence_terms) / 10,
                "chunk": hit.score / top_score if top_score > 0 else 0.0,
                "first": 1.0 if rank == 0 else 0.0,
                "english": 1.0 if english else 0.0,
                "corpus": corpus,
            }
            out.append(cand)
    if out:
        best_sem = max(c.features["sem"] for c in out)
        best_lex = max(c.features["lex"] for c in out)
        unseen = sum(w for t, w in idf.items() if t not in found_terms) / total if idf else 0.0
        for cand in out:
            cand.features["sem_gap"] = cand.features["sem"] - best_sem
            cand.features["lex_gap"] = cand.features["lex"] - best_lex
            cand.features["unseen"] = unseen
        x = np.array([[c.features[f] for f in FEATURES] for c in out], dtype="float64")
        for cand, p in zip(out, calibration.sentence(x)):
            cand.probability = float(p) if math.isfinite(p) else 0.0
    return out
