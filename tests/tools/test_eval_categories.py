"""Issue 13: per-category answer figures in ``negotiations-bot eval`` (change questions must cite
every listed quote, the others any one)."""

from types import SimpleNamespace

from bot.tools.eval_categories import CategoryRecord, aggregate_categories, format_categories, gold_cited
from bot.tools.evaluation import parse_question


def _c(doc, start, end):
    return SimpleNamespace(doc=doc, start=start, end=end)


SPANS = [[("a.txt", 0, 10)], [("b.txt", 5, 20)], [("c.txt", 0, 8)]]


def test_change_questions_need_every_listed_quote_cited():
    two_of_three = [_c("a.txt", 2, 4), _c("b.txt", 0, 6)]
    assert gold_cited("latest", two_of_three, SPANS)
    assert not gold_cited("change", two_of_three, SPANS)
    assert gold_cited("change", two_of_three + [_c("c.txt", 7, 30)], SPANS)
    assert not gold_cited("latest", [_c("a.txt", 10, 12)], SPANS)  # touching is not covering


def test_figures_per_category():
    records = [
        CategoryRecord("latest", True, False, True),
        CategoryRecord("latest", True, True, False),
        CategoryRecord("refuse", False, True, False),
        CategoryRecord("refuse", False, False, False),
        CategoryRecord("change", True, False, False),
    ]
    by = aggregate_categories(records)
    assert by["latest"] == {
        "n": 2,
        "n_answerable": 2,
        "n_must_refuse": 0,
        "answerable_refused": 0.5,
        "must_refuse_refused": None,
        "gold_cited": 0.5,
    }
    assert by["refuse"]["must_refuse_refused"] == 0.5 and by["refuse"]["gold_cited"] is None
    assert by["change"]["gold_cited"] == 0.0
    table = "\n".join(format_categories(by))
    assert "latest" in table and "0.50 (1/2)" in table


def test_category_is_read_from_the_timeline_format_and_falls_back_to_the_question_type():
    timeline = parse_question(
        {"id": "t", "question": "Now?", "answer": None, "evidence": [], "category": "refuse"}
    )
    multihop = parse_question(
        {"query": "Q?", "answer": "x", "question_type": "inference_query", "evidence_list": [{"fact": "f"}]}
    )
    assert timeline.category == "refuse" and multihop.category == "inference_query"


def test_the_category_table_keeps_its_columns_apart():
    from bot.tools.eval_categories import format_categories

    row = {
        "n": 80,
        "n_answerable": 80,
        "n_must_refuse": 0,
        "answerable_refused": 0.0,
        "must_refuse_refused": None,
        "gold_cited": 0.7375,
    }
    line = format_categories({"comparison": row})[-1]
    assert "- " in line and line.endswith("0.74 (59/80)") and "-0.74" not in line
