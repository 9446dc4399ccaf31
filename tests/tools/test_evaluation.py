"""``negotiations-bot eval``: the metric functions on crafted cases, both question formats, and
whole runs through the CLI on a tiny generated corpus (ours and both baselines)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from bot.answering import Answer, Citation
from bot.tools.eval_tradeoff import tradeoff
from bot.tools.evaluation import (
    AnswerRecord,
    EvalQuestion,
    aggregate_answers,
    aggregate_retrieval,
    answer_record,
    corpus_fingerprint,
    first_hit_rank,
    load_questions,
    parse_question,
    retrieval_scores,
    squash,
)

# ---------------------------------------------------------------- retrieval metrics


def test_whitespace_is_removed_on_both_sides_before_the_substring_test():
    assert squash(" a b\n\tc\u00a0d ") == "abcd"
    chunk = "title: T\nsource: S\n\nThe  ceasefire\nbegan at\tdawn, officials said."
    assert first_hit_rank([chunk], ["The ceasefire began at dawn"]) == 1
    assert first_hit_rank([chunk], ["Theceasefirebeganatdawn"]) == 1
    assert first_hit_rank([chunk], ["The ceasefire began at noon"]) is None


def test_the_metadata_header_is_part_of_the_matched_text():
    assert first_hit_rank(["title: Grain deal\nsource: Wire\n\nBody."], ["Grain deal"]) == 1


def test_hits_and_mrr_follow_the_rank_of_the_first_chunk_with_a_gold_quote():
    chunks = [f"chunk number {i}." for i in range(1, 13)]
    docs = [f"d{i}" for i in range(1, 13)]

    def at(rank):
        texts = list(chunks)
        texts[rank - 1] = "Here the GOLD fact is stated."
        return retrieval_scores(texts, docs, ["GOLD fact"], {"d1"})

    s = at(1)
    assert (s["hits@4"], s["hits@10"], s["mrr@10"]) == (1.0, 1.0, 1.0)
    s = at(3)
    assert (s["hits@4"], s["hits@10"], s["mrr@10"]) == (1.0, 1.0, pytest.approx(1 / 3))
    s = at(4)
    assert s["hits@4"] == 1.0
    s = at(5)
    assert (s["hits@4"], s["hits@10"], s["mrr@10"]) == (0.0, 1.0, pytest.approx(0.2))
    s = at(10)
    assert (s["hits@10"], s["mrr@10"]) == (1.0, pytest.approx(0.1))
    s = at(11)  # beyond the top 10: a miss
    assert (s["hits@4"], s["hits@10"], s["mrr@10"], s["first_rank"]) == (0.0, 0.0, 0.0, None)


def test_any_gold_quote_counts_and_the_earliest_one_sets_mrr():
    texts = ["nothing", "second quote here", "first quote here"]
    s = retrieval_scores(texts, ["a", "b", "c"], ["first quote", "second quote"], {"b", "c"})
    assert s["first_rank"] == 2 and s["mrr@10"] == pytest.approx(0.5)


def test_doc_recall_is_the_share_of_evidence_articles_among_the_top_10_chunks():
    texts = ["x"] * 12
    docs = ["a", "a", "z", "z", "z", "z", "z", "z", "z", "z", "b", "c"]  # b and c only below the top 10
    assert retrieval_scores(texts, docs, ["q"], {"a", "b"})["doc_recall@10"] == pytest.approx(0.5)
    assert retrieval_scores(texts, docs, ["q"], {"a"})["doc_recall@10"] == 1.0
    assert retrieval_scores(texts, docs, ["q"], {"b", "c", "d"})["doc_recall@10"] == 0.0


def test_retrieval_means_are_per_question_overall_and_by_type():
    rows = [
        ("inference_query", {"hits@4": 1.0, "hits@10": 1.0, "mrr@10": 1.0, "doc_recall@10": 1.0}),
        ("inference_query", {"hits@4": 0.0, "hits@10": 1.0, "mrr@10": 0.2, "doc_recall@10": 0.5}),
        ("temporal_query", {"hits@4": 0.0, "hits@10": 0.0, "mrr@10": 0.0, "doc_recall@10": 0.0}),
    ]
    agg = aggregate_retrieval(rows)
    assert agg["n"] == 3
    assert agg["hits@4"] == pytest.approx(1 / 3, abs=1e-4)
    assert agg["mrr@10"] == pytest.approx(0.4, abs=1e-4)
    assert agg["by_type"]["inference_query"] == {
        "n": 2,
        "hits@4": 0.5,
        "hits@10": 1.0,
        "mrr@10": 0.6,
        "doc_recall@10": 0.75,
    }
    assert agg["by_type"]["temporal_query"]["hits@10"] == 0.0


# ---------------------------------------------------------------- answer metrics


def test_refusal_precision_recall_and_answerable_refused():
    records = [
        AnswerRecord(answerable=False, refused=True),
        AnswerRecord(answerable=False, refused=False, cited_docs=["x"], verbatim=[True]),
        AnswerRecord(answerable=True, refused=True, evidence_docs={"a"}),
        AnswerRecord(answerable=True, refused=True, evidence_docs={"a"}),
        AnswerRecord(answerable=True, refused=False, evidence_docs={"a"}, cited_docs=["a"], verbatim=[True]),
        AnswerRecord(answerable=True, refused=False, evidence_docs={"a"}, cited_docs=["a"], verbatim=[True]),
    ]
    agg = aggregate_answers(records)
    assert agg["refusal_precision"] == pytest.approx(1 / 3, abs=1e-4)  # 3 refused, 1 of them unanswerable
    assert agg["refusal_recall"] == 0.5  # 2 unanswerable, 1 refused
    assert agg["answerable_refused"] == 0.5  # 4 answerable, 2 refused
    assert (agg["n_answerable"], agg["n_unanswerable"]) == (4, 2)


def test_cited_article_precision_and_recall_against_the_evidence():
    records = [
        # cites a and x for evidence {a, b}: precision 1/2, recall 1/2
        AnswerRecord(
            answerable=True,
            refused=False,
            evidence_docs={"a", "b"},
            cited_docs=["a", "a", "x"],
            verbatim=[True] * 3,
        ),
        # cites b and c for evidence {b, c, d}: precision 1, recall 2/3
        AnswerRecord(
            answerable=True,
            refused=False,
            evidence_docs={"b", "c", "d"},
            cited_docs=["b", "c"],
            verbatim=[True, True],
        ),
        # refused: no precision term, recall 0
        AnswerRecord(answerable=True, refused=True, evidence_docs={"e"}),
    ]
    agg = aggregate_answers(records)
    assert agg["cited_precision"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-4)
    assert agg["cited_recall"] == pytest.approx((0.5 + 2 / 3 + 0) / 3, abs=1e-4)
    assert agg["cited_articles_per_answer"] == 2.0


def _answer(citations, refused=False):
    return Answer(
        question="q", answer="x" if not refused else "refused", refused=refused, citations=citations
    )


def _citation(n, doc, text, start, end, quote=None):
    return Citation(n, doc, "T", None, None, text[start:end] if quote is None else quote, start, end)


def test_verbatim_compares_each_quote_with_the_file_text_at_its_offsets():
    texts = {"a.txt": "Title: T\n\nAlpha beta gamma. Delta epsilon."}
    text = texts["a.txt"]
    start = text.index("Delta")
    q = EvalQuestion("q1", "?", "Delta", "inference_query", (("a.txt", "Delta epsilon."),))
    good = _answer([_citation(1, "a.txt", text, start, start + 14)])
    shifted = _answer([_citation(1, "a.txt", text, start, start + 14, quote="Delta epsilon!")])
    missing = _answer([_citation(1, "b.txt", text, start, start + 14)])
    assert answer_record(q, good, texts.get).verbatim == [True]
    assert answer_record(q, good, texts.get).gold_span_hit
    assert answer_record(q, shifted, texts.get).verbatim == [False]
    assert answer_record(q, missing, texts.get).verbatim == [False]
    assert (
        aggregate_answers([answer_record(q, good, texts.get), answer_record(q, shifted, texts.get)])[
            "verbatim"
        ]
        == 0.5
    )


def test_a_citation_elsewhere_in_the_article_does_not_hit_the_gold_span():
    text = "Title: T\n\nAlpha beta gamma. Delta epsilon."
    q = EvalQuestion("q1", "?", "Delta", "inference_query", (("a.txt", "Delta epsilon."),))
    elsewhere = _answer([_citation(1, "a.txt", text, text.index("Alpha"), text.index("Alpha") + 17)])
    assert not answer_record(q, elsewhere, {"a.txt": text}.get).gold_span_hit


# ---------------------------------------------------------------- question formats


def test_both_question_formats_and_both_ways_of_saying_unanswerable(tmp_path):
    lines = [
        {
            "id": "seed-dev-01",
            "question": "How long was the call?",
            "answer": "two hours",
            "evidence": [{"doc": "a.txt", "quote": "two-hour call"}],
        },
        {"id": "seed-dev-11", "question": "What is the population of Kyiv?", "answer": None, "evidence": []},
        {
            "id": "mhrag-q0001",
            "question": "Who?",
            "answer": "Donald Trump",
            "question_type": "inference_query",
            "evidence": [{"doc": "x.txt", "quote": "q1"}, {"doc": "y.txt", "quote": "q2"}],
            "source_index": 1,
        },
        {
            "id": "mhrag-q0048",
            "question": "Which minister?",
            "answer": "Insufficient information.",
            "question_type": "null_query",
            "evidence": [],
        },
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", "utf-8")
    questions = load_questions(path)
    assert [q.answerable for q in questions] == [True, False, True, False]
    assert questions[0].qtype == "answerable" and questions[1].qtype == "unanswerable"
    assert questions[2].qtype == "inference_query" and questions[2].evidence_docs == {"x.txt", "y.txt"}
    assert questions[3].qtype == "null_query"
    upstream = parse_question(
        {
            "query": "Q?",
            "answer": "Yes",
            "question_type": "comparison_query",
            "evidence_list": [{"fact": "F", "doc": "d"}],
        }
    )
    assert upstream.question == "Q?" and upstream.quotes == ["F"]
    with pytest.raises(ValueError):
        parse_question({"answer": "x"})


def test_the_corpus_fingerprint_changes_with_the_content_only(tmp_path):
    (tmp_path / "a.txt").write_text("one", "utf-8")
    first = corpus_fingerprint(tmp_path)
    assert corpus_fingerprint(tmp_path) == first
    (tmp_path / "notes.json").write_text("{}", "utf-8")  # not an article
    assert corpus_fingerprint(tmp_path) == first
    (tmp_path / "a.txt").write_text("two", "utf-8")
    assert corpus_fingerprint(tmp_path) != first


# ---------------------------------------------------------------- whole runs on a tiny corpus

TINY = {
    "2023-10-02-fortune-harbour.txt": (
        "Port of Halden closes after storm",
        "Fortune",
        "2023-10-02T08:00:00+00:00",
        "The Port of Halden closed on Monday after a winter storm damaged two cranes. "
        "Harbour master Ingrid Solberg said repairs would take three weeks and cost about four million euros. "
        "Shipping companies diverted their vessels to Fredrikstad in the meantime.",
    ),
    "2023-10-09-the-verge-battery.txt": (
        "Voltari unveils a solid-state battery",
        "The Verge",
        "2023-10-09T15:30:00+00:00",
        "Voltari showed a solid-state battery prototype that charges to eighty percent in twelve minutes. "
        "The company plans to build the cells in a new factory near Halden from 2025. "
        "Its chief executive Mara Lindqvist called the prototype the end of range anxiety.",
    ),
    "2023-10-12-the-age-cricket.txt": (
        "Cricket club wins the regional final",
        "The Age",
        "2023-10-12T10:00:00+00:00",
        "The Brunswick cricket club won the regional final by forty runs on Saturday. "
        "Captain Tom Avery scored a century and took three wickets. "
        "The club will now play the state championship in November.",
    ),
}

TINY_QUESTIONS = [
    {
        "id": "t1",
        "question": "According to Fortune, how long will the repairs at the Port of Halden take after the storm damaged two cranes?",
        "answer": "three weeks",
        "question_type": "inference_query",
        "evidence": [
            {
                "doc": "2023-10-02-fortune-harbour.txt",
                "quote": "Harbour master Ingrid Solberg said repairs would take three weeks and cost about four million euros.",
            }
        ],
    },
    {
        "id": "t2",
        "question": "Which town is home to the port closed by a storm, as reported by Fortune, and also to the planned battery factory that The Verge reported Voltari will build?",
        "answer": "Halden",
        "question_type": "inference_query",
        "evidence": [
            {
                "doc": "2023-10-02-fortune-harbour.txt",
                "quote": "The Port of Halden closed on Monday after a winter storm damaged two cranes.",
            },
            {
                "doc": "2023-10-09-the-verge-battery.txt",
                "quote": "The company plans to build the cells in a new factory near Halden from 2025.",
            },
        ],
    },
    {
        "id": "t3",
        "question": "Who scored a century in the regional cricket final reported by The Age?",
        "answer": "Tom Avery",
        "question_type": "inference_query",
        "evidence": [
            {
                "doc": "2023-10-12-the-age-cricket.txt",
                "quote": "Captain Tom Avery scored a century and took three wickets.",
            }
        ],
    },
    {
        "id": "t4",
        "question": "What interest rate did the central bank of Zimbabwe set according to Bloomberg?",
        "answer": "Insufficient information.",
        "question_type": "null_query",
        "evidence": [],
    },
]


@pytest.fixture
def tiny(tmp_path, embed_model, monkeypatch):
    """A generated three-article corpus, its questions, and the session's model for every load."""
    import index.embedding

    monkeypatch.setattr(index.embedding, "load_embed_model", lambda *a, **k: embed_model)
    monkeypatch.chdir(tmp_path)  # the default data dir (data/eval/...) lands in tmp
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, source, published, body) in TINY.items():
        (corpus / name).write_text(
            f"Title: {title}\nSource: {source}\nPublished: {published}\n\n{body}\n", "utf-8"
        )
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in TINY_QUESTIONS), "utf-8")
    for key in ("CORPUS_DIR", "DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    return corpus, questions


def run_cli(capsys, *args) -> tuple[int, str]:
    from bot.tools.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    run_cli.err = captured.err
    return code, captured.out


def test_eval_json_report_on_a_tiny_corpus(tiny, capsys, tmp_path, monkeypatch):
    corpus, questions = tiny
    code, out = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(questions), "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) >= {"n_questions", "retrieval", "answers", "timings_ms"}
    assert report["n_questions"] == 4
    retrieval = report["retrieval"]
    assert set(retrieval) >= {"hits@4", "hits@10", "mrr@10", "doc_recall@10", "by_type"}
    assert retrieval["n"] == 3 and set(retrieval["by_type"]) == {"inference_query"}
    assert retrieval["hits@4"] == 1.0 and retrieval["doc_recall@10"] == 1.0 and retrieval["mrr@10"] >= 0.8
    answers = report["answers"]
    assert answers["n_answerable"] == 3 and answers["n_unanswerable"] == 1
    assert answers["refusal_recall"] == 1.0 and answers["answerable_refused"] == 0.0
    assert answers["verbatim"] == 1.0 and answers["n_citations"] >= 3
    assert answers["cited_recall"] == 1.0  # the two-article question cites both articles
    assert report["timings_ms"]["retrieve_p50"] > 0
    # The index went into data/eval/<corpus hash>/ under the working directory.
    data_dir = Path(report["data_dir"])
    assert data_dir == Path("data") / "eval" / corpus_fingerprint(corpus)
    current = sorted(p.read_text() for p in (tmp_path / data_dir).rglob("CURRENT"))
    assert len(current) == 1

    # A rerun loads the cached index: same version, nothing embedded again, same numbers.
    from index.library import Library

    embedded = []
    original = Library.embed_texts
    monkeypatch.setattr(
        Library, "embed_texts", lambda self, texts: embedded.extend(texts) or original(self, texts)
    )
    code, out = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(questions), "--json")
    again = json.loads(out)
    assert embedded == []
    assert sorted(p.read_text() for p in (tmp_path / data_dir).rglob("CURRENT")) == current
    assert again["retrieval"] == report["retrieval"] and again["answers"] == report["answers"]

    # A changed article is re-indexed (only its chunks are embedded again).
    name = next(iter(TINY))
    (corpus / name).write_text(
        (corpus / name).read_text("utf-8") + "The port reopened in November.\n", "utf-8"
    )
    code, out = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(questions), "--json")
    assert code == 0 and embedded and json.loads(out)["data_dir"] != report["data_dir"]


def test_eval_table_and_the_data_option(tiny, capsys, tmp_path):
    corpus, questions = tiny
    code, out = run_cli(
        capsys,
        "--corpus",
        str(corpus),
        "--data",
        str(tmp_path / "mine"),
        "eval",
        "--questions",
        str(questions),
        "--limit",
        "2",
    )
    assert code == 0
    assert "Hits@4" in out and "MRR@10" in out and "inference_query" in out and "citations verbatim" in out
    assert "2 questions" in out
    assert list((tmp_path / "mine").rglob("CURRENT"))
    assert not (tmp_path / "data").exists()


def test_baselines_report_the_same_retrieval_metrics(tiny, capsys):
    corpus, questions = tiny
    for baseline in ("bm25", "dense"):
        code, out = run_cli(
            capsys,
            "--corpus",
            str(corpus),
            "eval",
            "--questions",
            str(questions),
            "--baseline",
            baseline,
            "--json",
        )
        assert code == 0, baseline
        report = json.loads(out)
        assert report["system"] == f"baseline-{baseline}"
        assert report["answers"] is None
        assert set(report["retrieval"]) >= {"hits@4", "hits@10", "mrr@10", "doc_recall@10", "by_type"}
        assert report["retrieval"]["hits@10"] == 1.0  # three short articles: everything is in the top 10


def test_eval_rejects_a_missing_or_malformed_questions_file(tiny, capsys, tmp_path):
    corpus, _ = tiny
    code, _ = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(tmp_path / "nope.jsonl"))
    assert code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", "utf-8")
    code, _ = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(bad))
    assert code == 2 and "error" in run_cli.err and "bad.jsonl" in run_cli.err


# ---------------------------------------------------------------- the refusal trade-off


class _ThresholdSystem:
    """Answers a question when its (made-up) probability reaches the current answer threshold."""

    def __init__(self, scores: dict[str, float], fitted: float):
        self.scores, self.fitted_threshold, self.current = scores, fitted, fitted

    @contextlib.contextmanager
    def answer_threshold(self, threshold):
        before, self.current = self.current, threshold
        try:
            yield
        finally:
            self.current = before

    def answer(self, question):
        if self.scores[question] < self.current:
            return Answer(question=question, answer="The articles don't say.", refused=True)
        quote = "The ceasefire began at dawn."
        return Answer(
            question, quote, False, [Citation(1, "a.txt", "T", "S", "2025-01-01", quote, 0, len(quote))]
        )


def test_the_tradeoff_asks_every_question_again_at_each_threshold_and_counts_both_errors():
    questions = [
        EvalQuestion("q1", "easy?", "dawn", "inference_query", (("a.txt", "The ceasefire began at dawn."),)),
        EvalQuestion("q2", "hard?", "dawn", "inference_query", (("a.txt", "The ceasefire began at dawn."),)),
        EvalQuestion("q3", "unanswerable?", None, "null_query", ()),
    ]
    system = _ThresholdSystem({"easy?": 0.9, "hard?": 0.35, "unanswerable?": 0.25}, fitted=0.55)
    text = "The ceasefire began at dawn. Then talks."
    table = tradeoff(system, questions, lambda q, a: answer_record(q, a, lambda doc: text), (0.2, 0.3, 0.5))
    assert (table["n_answerable"], table["n_unanswerable"]) == (2, 1)
    rows = {r["threshold"]: r for r in table["rows"]}
    assert list(rows) == [0.2, 0.3, 0.5, 0.55] and [r["fitted"] for r in table["rows"]] == [0, 0, 0, 1]
    assert (rows[0.2]["answerable_refused"], rows[0.2]["unanswerable_answered"]) == (0, 1)
    assert (rows[0.3]["answerable_refused"], rows[0.3]["unanswerable_answered"]) == (0, 0)
    assert (rows[0.5]["answerable_refused"], rows[0.5]["gold_span_hit"]) == (1, 1)
    assert system.current == 0.55  # the fitted threshold is back

    # The run's own answers at the fitted threshold are its row: those questions aren't asked again.
    asked = []
    system.answer = lambda question, answer=system.answer: asked.append(question) or answer(question)
    own = [AnswerRecord(answerable=q.answerable, refused=True) for q in questions]
    table = tradeoff(system, questions, lambda q, a: answer_record(q, a, lambda doc: text), (0.2,), own)
    assert len(asked) == len(questions)  # at 0.2 only
    assert table["rows"][-1] == {
        "threshold": 0.55,
        "fitted": True,
        "answerable_refused": 2,
        "unanswerable_answered": 0,
        "gold_span_hit": 0,
    }


def test_eval_prints_the_tradeoff_and_its_fitted_row_is_the_run_itself(tiny, capsys):
    corpus, questions = tiny
    code, out = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(questions), "--json")
    assert code == 0
    report = json.loads(out)
    table, answers = report["tradeoff"], report["answers"]
    (fitted,) = [r for r in table["rows"] if r["fitted"]]
    n = table["n_answerable"]
    assert fitted["answerable_refused"] / n == pytest.approx(answers["answerable_refused"], abs=1e-4)
    assert fitted["gold_span_hit"] / n == pytest.approx(answers["gold_span_hit"], abs=1e-4)
    refusals = [
        r["answerable_refused"] + table["n_unanswerable"] - r["unanswerable_answered"] for r in table["rows"]
    ]
    assert refusals == sorted(refusals)  # a higher threshold never answers more
    code, out = run_cli(capsys, "--corpus", str(corpus), "eval", "--questions", str(questions))
    assert "trade-off as the answer threshold moves" in out and "0.1 " in out
    code, out = run_cli(
        capsys, "--corpus", str(corpus), "eval", "--questions", str(questions), "--no-tradeoff"
    )
    assert code == 0 and "trade-off" not in out


def test_a_russian_question_is_retrieved_as_the_answerer_retrieves_it(tiny, tmp_path, monkeypatch):
    # The retrieval figures of a Russian/Ukrainian question set are those of the chunks its
    # answers come from (the multilingual vectors), not of an English keyword search.
    from bot.settings import Settings
    from bot.tools.evaluation import OurSystem

    corpus, _ = tiny
    system = OurSystem(Settings(_env_file=None, corpus_dir=corpus), tmp_path / "data")
    retriever = system.library.retriever
    calls = []
    for name in ("search", "semantic_search"):
        original = getattr(retriever, name)
        monkeypatch.setattr(
            retriever, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k)
        )
    got = system.retrieve("Кто набрал сотню в финале по крикету?")
    assert calls == ["semantic_search"]
    assert got.docs[0] == "2023-10-12-the-age-cricket.txt"
    system.retrieve("Who scored a century in the cricket final?")
    assert calls == ["semantic_search", "search"]
