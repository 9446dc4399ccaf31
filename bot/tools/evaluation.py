"""``negotiations-bot eval``: retrieval and answer metrics on a question set, beside two baselines.

Retrieval is scored exactly as MultiHop-RAG (Tang & Yang 2024, Table 5) scores it: for each
answerable question, the top-10 retrieved chunk texts *with their metadata header* and the
question's gold quotes are stripped of all white space; Hits@K says whether some gold quote is a
substring of one of the top-K chunks, MRR@10 is 1/rank of the first such chunk (0 if none).
``doc_recall@10`` is the share of the question's evidence articles among the top-10 chunks'
articles. All are averaged over answerable questions, overall and by question type.

Answers (our system only; the baselines are retrievers, not answerers):

- ``refusal_precision`` / ``refusal_recall``: refused questions that are unanswerable / unanswerable
  questions that were refused (unanswerable = gold ``answer`` null or "Insufficient information.");
- ``answerable_refused``: share of answerable questions refused;
- ``cited_precision``: per answered answerable question, share of its cited articles that are
  evidence articles (averaged over answered answerable questions with citations);
- ``cited_recall``: per answerable question, share of its evidence articles cited (a refusal cites
  nothing and scores 0; averaged over all answerable questions);
- ``gold_span_hit``: answerable questions where some citation overlaps the span of a gold quote in
  its article (the seed dev set's criterion);
- ``verbatim``: citations whose quote equals the article file text ``[start:end]`` (must be 1.0).

``tradeoff`` (the extractive answerer): every question asked again at other answer thresholds
(bot/tools/eval_tradeoff.py).

The index lives in its own data dir, keyed by the corpus content (``data/eval/<hash>/``), so a
rerun loads it instead of embedding again; ``--data DIR`` puts it in DIR instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.measure import percentile
from bot.tools.eval_categories import CategoryRecord, aggregate_categories, format_categories, gold_cited
from bot.tools.eval_tradeoff import answering_at, format_tradeoff, tradeoff

UNANSWERABLE_ANSWERS = {"insufficient information.", "insufficient information"}
_WHITESPACE = re.compile(r"\s+")
K_VALUES = (4, 10)


# ---------------------------------------------------------------- questions


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answer: str | None
    qtype: str
    evidence: tuple[tuple[str, str], ...]  # (doc, quote)
    category: str = ""  # the timeline sets' ``category`` (else the question type): per-category figures

    @property
    def answerable(self) -> bool:
        return (
            self.answer is not None
            and self.answer.strip().lower() not in UNANSWERABLE_ANSWERS
            and bool(self.evidence)
        )

    @property
    def evidence_docs(self) -> set[str]:
        return {doc for doc, _ in self.evidence}

    @property
    def quotes(self) -> list[str]:
        return [quote for _, quote in self.evidence]


def parse_question(obj: dict, line_no: int = 0) -> EvalQuestion:
    """One question in the seed dev format or the MultiHop-RAG subset format (same keys; the
    latter adds ``question_type``). Upstream names (``query``, ``evidence_list``/``fact``) are read too."""
    question = obj.get("question") or obj.get("query")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"line {line_no}: no question text")
    evidence = []
    for item in obj.get("evidence") or obj.get("evidence_list") or []:
        doc = item.get("doc") or item.get("file") or ""
        quote = item.get("quote") or item.get("fact") or ""
        if quote:
            evidence.append((doc, quote))
    answer = obj.get("answer")
    qtype = obj.get("question_type") or ("answerable" if answer is not None else "unanswerable")
    category = str(obj.get("category") or obj.get("question_type") or qtype)
    return EvalQuestion(
        str(obj.get("id") or f"q{line_no}"), question, answer, qtype, tuple(evidence), category
    )


def load_questions(path: Path) -> list[EvalQuestion]:
    questions = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                questions.append(parse_question(json.loads(line), line_no))
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


# ---------------------------------------------------------------- metrics (pure functions)


def squash(text: str) -> str:
    """The text with every white-space character removed (the MultiHop-RAG matching rule)."""
    return _WHITESPACE.sub("", text)


def first_hit_rank(chunk_texts: list[str], quotes: Iterable[str]) -> int | None:
    """1-based rank of the first chunk that contains some gold quote (white space ignored)."""
    squashed_quotes = [q for q in (squash(q) for q in quotes) if q]
    for rank, text in enumerate(chunk_texts, start=1):
        flat = squash(text)
        if any(q in flat for q in squashed_quotes):
            return rank
    return None


def retrieval_scores(
    chunk_texts: list[str], chunk_docs: list[str], quotes: list[str], evidence_docs: set[str]
) -> dict:
    """Per-question Hits@4, Hits@10, MRR@10 and doc_recall@10 over a ranked list of chunks."""
    top = chunk_texts[:10]
    rank = first_hit_rank(top, quotes)
    scores = {f"hits@{k}": float(rank is not None and rank <= k) for k in K_VALUES}
    scores["mrr@10"] = 1.0 / rank if rank else 0.0
    found = set(chunk_docs[:10]) & evidence_docs
    scores["doc_recall@10"] = len(found) / len(evidence_docs) if evidence_docs else 0.0
    scores["first_rank"] = rank
    return scores


RETRIEVAL_KEYS = ("hits@4", "hits@10", "mrr@10", "doc_recall@10")


def aggregate_retrieval(per_question: list[tuple[str, dict]]) -> dict:
    """Means over (question type, scores) pairs of answerable questions, overall and by type."""

    def means(rows: list[dict]) -> dict:
        return {"n": len(rows)} | {
            k: round(statistics.fmean(r[k] for r in rows), 4) if rows else None for k in RETRIEVAL_KEYS
        }

    overall = means([s for _, s in per_question])
    by_type: dict[str, list[dict]] = {}
    for qtype, s in per_question:
        by_type.setdefault(qtype, []).append(s)
    return overall | {"by_type": {t: means(rows) for t, rows in sorted(by_type.items())}}


@dataclass
class AnswerRecord:
    answerable: bool
    refused: bool
    evidence_docs: set[str] = field(default_factory=set)
    cited_docs: list[str] = field(default_factory=list)
    verbatim: list[bool] = field(default_factory=list)  # one per citation
    gold_span_hit: bool = False
    contains_answer: bool | None = None  # None: gold answer is yes/no or absent


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def aggregate_answers(records: list[AnswerRecord]) -> dict:
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    refused = [r for r in records if r.refused]
    correct_refusals = sum(1 for r in refused if not r.answerable)
    answered = [r for r in answerable if not r.refused and r.cited_docs]
    precisions = [len(set(r.cited_docs) & r.evidence_docs) / len(set(r.cited_docs)) for r in answered]
    recalls = [
        0.0
        if r.refused or not r.evidence_docs
        else len(set(r.cited_docs) & r.evidence_docs) / len(r.evidence_docs)
        for r in answerable
    ]
    citations = [v for r in records for v in r.verbatim]
    contains = [r.contains_answer for r in answerable if r.contains_answer is not None]
    return {
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "refusal_precision": _ratio(correct_refusals, len(refused)),
        "refusal_recall": _ratio(correct_refusals, len(unanswerable)),
        "answerable_refused": _ratio(sum(1 for r in answerable if r.refused), len(answerable)),
        "cited_precision": round(statistics.fmean(precisions), 4) if precisions else None,
        "cited_recall": round(statistics.fmean(recalls), 4) if recalls else None,
        "cited_articles_per_answer": round(statistics.fmean(len(set(r.cited_docs)) for r in answered), 2)
        if answered
        else None,
        "gold_span_hit": _ratio(sum(1 for r in answerable if r.gold_span_hit), len(answerable)),
        "answer_contains": _ratio(sum(contains), len(contains)),
        "n_citations": len(citations),
        "verbatim": _ratio(sum(citations), len(citations)) if citations else 1.0,
    }


def gold_spans(question: EvalQuestion, read_text: Callable[[str], str | None]) -> list[tuple[str, int, int]]:
    """(doc, start, end) of every occurrence of each gold quote in its article."""
    spans = []
    for doc, quote in question.evidence:
        text = read_text(doc)
        if not text or not quote:
            continue
        start = text.find(quote)
        while start != -1:
            spans.append((doc, start, start + len(quote)))
            start = text.find(quote, start + 1)
    return spans


def answer_record(question: EvalQuestion, answer, read_text: Callable[[str], str | None]) -> AnswerRecord:
    citations = list(answer.citations)
    verbatim = []
    for c in citations:
        text = read_text(c.doc)
        verbatim.append(text is not None and text[c.start : c.end] == c.quote)
    spans = gold_spans(question, read_text)
    span_hit = any(
        c.doc == doc and c.start < end and start < c.end for c in citations for doc, start, end in spans
    )
    contains = None
    if question.answerable and question.answer.strip().lower() not in {"yes", "no"} and not answer.refused:
        contains = " ".join(question.answer.lower().split()) in " ".join(answer.answer.lower().split())
    elif question.answerable and question.answer.strip().lower() not in {"yes", "no"}:
        contains = False
    return AnswerRecord(
        answerable=question.answerable,
        refused=bool(answer.refused),
        evidence_docs=question.evidence_docs,
        cited_docs=[c.doc for c in citations],
        verbatim=verbatim,
        gold_span_hit=span_hit,
        contains_answer=contains,
    )


# ---------------------------------------------------------------- corpus and cache


def corpus_fingerprint(corpus_dir: Path) -> str:
    """A hash of every article file (and metadata sidecar) under the corpus dir: path and bytes."""
    from index.articles import SIDECAR_SUFFIX, iter_article_paths

    digest = hashlib.sha256()
    for path in iter_article_paths(corpus_dir):
        for file in (path, path.with_name(path.name + SIDECAR_SUFFIX)):
            if file.is_file():
                digest.update(file.relative_to(corpus_dir).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


def eval_data_dir(args, settings) -> Path:
    """``--data`` if given, else ``data/eval/<corpus hash>`` under the configured data dir."""
    if getattr(args, "data", None):
        return Path(args.data)
    return Path(settings.data_dir) / "eval" / corpus_fingerprint(Path(settings.corpus_dir))


class ArticleTexts:
    """Article file texts by doc id, decoded exactly as the index decodes them (for verbatim checks)."""

    def __init__(self, corpus_dir: Path):
        self.corpus_dir = Path(corpus_dir)
        self._cache: dict[str, str | None] = {}

    def __call__(self, doc: str) -> str | None:
        if doc not in self._cache:
            from index.articles import ArticleError, read_article

            path = self.corpus_dir / doc
            try:
                self._cache[doc] = read_article(path, self.corpus_dir).text if path.is_file() else None
            except ArticleError:
                self._cache[doc] = None
        return self._cache[doc]


# ---------------------------------------------------------------- systems under test


@dataclass
class Retrieved:
    texts: list[str]  # chunk text with its metadata header, as the retriever indexed it
    docs: list[str]


class OurSystem:
    """The project's hybrid retriever and extractive answerer, on an index in its own data dir."""

    name = "ours"

    def __init__(self, settings, data_dir: Path, progress=None, max_question_chars: int = 0):
        from bot.answering.factory import build_answerer

        self.settings = settings.model_copy(
            update={
                "data_dir": data_dir / f"hybrid-c{settings.chunk_tokens}-o{settings.chunk_overlap_tokens}",
                # Benchmark questions can be longer than a chat question may be; they are asked whole.
                "max_question_chars": max(settings.max_question_chars, max_question_chars),
            }
        )
        self.answerer = build_answerer(self.settings)
        library = self.answerer.library
        # Load the cached index; the store re-embeds only articles whose content changed.
        self.report = library.reindex(progress=progress)
        self.library = library
        library.embed_query("warm-up")

    def describe(self) -> str:
        r = self.retrieval_config
        return (
            f"hybrid (MiniLM dense + BM25, chunks {self.settings.chunk_tokens}/{self.settings.chunk_overlap_tokens} word-pieces, "
            f"weights dense {r.dense_weight} / bm25 {r.bm25_weight} / sentence {r.sentence_weight} / clause {r.clause_weight}, "
            f"boosts outlet {r.source_boost} / date {r.date_boost}, article penalty {r.article_penalty}); "
            f"answers: {getattr(self.settings, 'answer_backend', 'extractive')}"
        )

    @property
    def retrieval_config(self):
        return self.library.retriever.config

    def retrieve(self, question: str) -> Retrieved:
        from llama_index.core.schema import MetadataMode

        # The answerer's search: a Russian or Ukrainian question by its multilingual vectors.
        hits = self.answerer.hits(question, top_k=10)
        return Retrieved(
            [h.node.get_content(metadata_mode=MetadataMode.EMBED) for h in hits],
            [h.node.metadata.get("doc") for h in hits],
        )

    def answer(self, question: str):
        return self.answerer.ask(question)

    @property
    def fitted_threshold(self) -> float | None:
        """The calibrated answer threshold; None with a model backend (its answers would be
        generated again at every threshold of the trade-off table)."""
        if getattr(self.settings, "answer_backend", "extractive") != "extractive":
            return None
        return self.answerer.calibration.answer_threshold

    def answer_threshold(self, threshold: float):
        """Answer at another answer threshold meanwhile (a context manager)."""
        return answering_at(self.answerer, threshold)


def baseline_documents(corpus_dir: Path):
    """One LlamaIndex Document per article: the body, with title/source/published as metadata
    (LlamaIndex puts metadata into the embedded and keyword-searched chunk text by default)."""
    from llama_index.core import Document

    from index.articles import load_corpus

    documents = []
    for article in load_corpus(corpus_dir).articles:
        metadata = {
            k: v
            for k, v in {
                "title": article.title,
                "source": article.source,
                "published": article.published,
            }.items()
            if v
        }
        documents.append(Document(id_=article.doc_id, text=article.body, metadata=metadata))
    return documents


def baseline_nodes(corpus_dir: Path):
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(chunk_size=256, chunk_overlap=25).get_nodes_from_documents(
        baseline_documents(corpus_dir)
    )


class DenseBaseline:
    """What a user would write with LlamaIndex defaults: VectorStoreIndex (its default in-memory
    store), the same MiniLM, SentenceSplitter 256/25, dense top-10."""

    name = "baseline-dense"

    def __init__(self, settings, data_dir: Path, progress=None, max_question_chars: int = 0):
        from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage

        from index.embedding import load_embed_model

        embed_model = load_embed_model()
        persist = data_dir / "baseline-dense-256-25"
        if (persist / "docstore.json").is_file():
            index = load_index_from_storage(
                StorageContext.from_defaults(persist_dir=str(persist)), embed_model=embed_model
            )
        else:
            index = VectorStoreIndex(
                baseline_nodes(Path(settings.corpus_dir)),
                embed_model=embed_model,
                show_progress=bool(getattr(progress, "enabled", False)),
            )
            index.storage_context.persist(persist_dir=str(persist))
        self.retriever = index.as_retriever(similarity_top_k=10)
        embed_model.get_query_embedding("warm-up")

    def describe(self) -> str:
        return "LlamaIndex VectorStoreIndex, MiniLM, SentenceSplitter 256/25, dense top-10"

    def retrieve(self, question: str) -> Retrieved:
        return _retrieved(self.retriever.retrieve(question))


class Bm25Baseline:
    """BM25 alone: LlamaIndex's BM25Retriever (bm25s, English stemmer and stop words) over the same
    SentenceSplitter 256/25 chunks as the dense baseline, header included, top-10."""

    name = "baseline-bm25"

    def __init__(self, settings, data_dir: Path, progress=None, max_question_chars: int = 0):
        from llama_index.retrievers.bm25 import BM25Retriever

        self.retriever = BM25Retriever.from_defaults(
            nodes=baseline_nodes(Path(settings.corpus_dir)), similarity_top_k=10
        )

    def describe(self) -> str:
        return "LlamaIndex BM25Retriever, SentenceSplitter 256/25, top-10"

    def retrieve(self, question: str) -> Retrieved:
        return _retrieved(self.retriever.retrieve(question))


def _retrieved(results) -> Retrieved:
    from llama_index.core.schema import MetadataMode

    return Retrieved(
        [r.node.get_content(metadata_mode=MetadataMode.EMBED) for r in results],
        [r.node.ref_doc_id for r in results],
    )


# ---------------------------------------------------------------- the run


def evaluate(
    system,
    questions: list[EvalQuestion],
    read_text: Callable[[str], str | None],
    with_answers: bool = True,
    with_tradeoff: bool = True,
) -> dict:
    """Run every question through ``system``; returns the report (and per-question rows under ``_rows``)."""
    per_question: list[tuple[str, dict]] = []
    records: list[AnswerRecord] = []
    categories: list[CategoryRecord] = []
    rows = []
    retrieve_ms: list[float] = []
    answer_ms: list[float] = []
    can_answer = with_answers and hasattr(system, "answer")
    for q in questions:
        t0 = time.perf_counter()
        retrieved = system.retrieve(q.question)
        retrieve_ms.append((time.perf_counter() - t0) * 1000)
        row = {"id": q.id, "type": q.qtype, "answerable": q.answerable}
        if q.answerable:
            scores = retrieval_scores(retrieved.texts, retrieved.docs, q.quotes, q.evidence_docs)
            per_question.append((q.qtype, scores))
            row |= scores
        if can_answer:
            t1 = time.perf_counter()
            answer = system.answer(q.question)
            answer_ms.append((time.perf_counter() - t1) * 1000)
            record = answer_record(q, answer, read_text)
            records.append(record)
            by_quote = [gold_spans(dataclasses.replace(q, evidence=(e,)), read_text) for e in q.evidence]
            cited = gold_cited(q.category, answer.citations, by_quote)
            categories.append(CategoryRecord(q.category, q.answerable, record.refused, cited))
            row |= {
                "refused": record.refused,
                "cited": sorted(set(record.cited_docs)),
                "gold_span_hit": record.gold_span_hit,
            }
        rows.append(row)
    report = {
        "n_questions": len(questions),
        "retrieval": aggregate_retrieval(per_question),
        "answers": aggregate_answers(records) if can_answer else None,
        "answers_by_category": aggregate_categories(categories) if can_answer else None,
        "timings_ms": {
            "retrieve_p50": _ms(percentile(retrieve_ms, 50)),
            "retrieve_p95": _ms(percentile(retrieve_ms, 95)),
            "ask_p50": _ms(percentile(answer_ms, 50)),
            "ask_p95": _ms(percentile(answer_ms, 95)),
        },
        "_rows": rows,
    }
    if can_answer and with_tradeoff and getattr(system, "fitted_threshold", None) is not None:
        report["tradeoff"] = tradeoff(
            system, questions, lambda q, a: answer_record(q, a, read_text), fitted_records=records
        )
    return report


def format_table(report: dict) -> str:
    lines = [
        f"{report['system']}: {report['description']}",
        f"corpus {report['corpus']} · questions {report['questions_file']} · {report['n_questions']} questions",
        "",
    ]
    retrieval = report["retrieval"]
    lines.append(f"{'retrieval':<22}{'n':>5}{'Hits@4':>9}{'Hits@10':>9}{'MRR@10':>9}{'docR@10':>9}")

    def row(label, r):
        cells = "".join(f"{'-' if r[k] is None else format(r[k], '.3f'):>9}" for k in RETRIEVAL_KEYS)
        return f"{label:<22}{r['n']:>5}{cells}"

    for qtype, r in retrieval["by_type"].items():
        lines.append(row(qtype, r))
    lines.append(row("all answerable", retrieval))
    answers = report.get("answers")
    lines.append("")
    if answers:
        lines.append("answers")
        labels = {
            "refusal_precision": "refusal precision",
            "refusal_recall": "refusal recall (unanswerable refused)",
            "answerable_refused": "answerable refused",
            "cited_precision": "cited-article precision",
            "cited_recall": "cited-article recall",
            "cited_articles_per_answer": "articles cited per answer",
            "gold_span_hit": "a citation overlaps a gold quote",
            "answer_contains": "answer text contains the gold answer (non yes/no)",
            "verbatim": "citations verbatim",
        }
        for key, label in labels.items():
            value = answers.get(key)
            lines.append(f"  {label:<52}{'-' if value is None else value}")
        lines.append(
            f"  {'(answerable / unanswerable questions)':<52}{answers['n_answerable']} / {answers['n_unanswerable']}"
        )
        lines += [""] + format_categories(report.get("answers_by_category") or {})
        if report.get("tradeoff"):
            lines += [""] + format_tradeoff(report["tradeoff"])
    else:
        lines.append("answers: not computed (a baseline is a retriever only)")
    t = report["timings_ms"]
    lines.append("")
    lines.append(
        f"timings: index load/build {t.get('index', 0) / 1000:.1f} s · retrieve p50 {t['retrieve_p50']} ms, p95 {t['retrieve_p95']} ms"
        + (f" · ask p50 {t['ask_p50']} ms, p95 {t['ask_p95']} ms" if t.get("ask_p50") is not None else "")
    )
    return "\n".join(lines)


SYSTEMS = {None: OurSystem, "dense": DenseBaseline, "bm25": Bm25Baseline}


def run_eval(
    settings,
    questions_path: Path,
    baseline: str | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    progress=None,
    with_tradeoff: bool = True,
) -> dict:
    questions = load_questions(questions_path)[: limit or None]
    data_dir = data_dir or Path(settings.data_dir) / "eval" / corpus_fingerprint(Path(settings.corpus_dir))
    t0 = time.perf_counter()
    longest = max(len(" ".join(q.question.split())) for q in questions)
    system = SYSTEMS[baseline](settings, data_dir, progress, longest)
    index_s = time.perf_counter() - t0
    report = evaluate(system, questions, ArticleTexts(Path(settings.corpus_dir)), with_tradeoff=with_tradeoff)
    report["timings_ms"]["index"] = round(index_s * 1000)
    report["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000)
    return {
        "system": system.name,
        "description": system.describe(),
        "corpus": str(settings.corpus_dir),
        "questions_file": str(questions_path),
        "data_dir": str(data_dir),
    } | report


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
