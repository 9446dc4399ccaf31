"""Rendering of the admin commands within Discord's limits: the re-index summary (property-based), the
progress embed, /sources pages and /stats, whatever the names, titles and questions.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.app.admin_render import (
    ProgressState,
    check_embed,
    render_progress,
    render_sources_page,
    render_stats,
    render_summary,
    source_entries,
)
from bot.app.db import Stats
from bot.app.render import EMBED_TOTAL_MAX
from index.store import ReindexReport

# ---------------------------------------------------------------- rendering limits


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    added=st.lists(names, max_size=400),
    changed=st.lists(names, max_size=50),
    removed=st.lists(names, max_size=50),
    skipped=st.lists(st.tuples(names, names), max_size=200),
    recovered=st.one_of(st.none(), names),
)
def test_summary_always_fits_discord_limits(added, changed, removed, skipped, recovered):
    report = ReindexReport(
        added=added,
        changed=changed,
        removed=removed,
        unchanged=["u"] * 5000,
        skipped=skipped,
        chunks=123456,
        embedded_chunks=99,
        seconds=3725.4,
        version="v-000001-x-y",
        published=bool(added or changed or removed),
        recovered=recovered,
    )
    embed = render_summary(report, note="Saved `x.txt` (12 KB).\nNote: " + "long warning " * 200)
    assert check_embed(embed) == []
    total = sum(len(f.name) + len(f.value) for f in embed.fields) + len(embed.title) + len(embed.description)
    assert total <= EMBED_TOTAL_MAX
    for field in embed.fields:
        if "… and" in field.value:
            assert field.value.rsplit("… and ", 1)[1].split(" ")[0].replace(",", "").isdigit()


def test_summary_escapes_names_and_counts_the_rest():
    report = ReindexReport(
        added=["@everyone.txt", "*bold*_x.md", "<@123>.txt"] + [f"a{i:04d}.txt" for i in range(500)],
        skipped=[("big.txt", "too large (6,000,000 bytes; the limit is 5,000,000)")],
        published=True,
    )
    embed = render_summary(report)
    added = embed.fields[0].value
    assert "@\u200beveryone" in added and "\\*bold\\*\\_x.md" in added and "\\<@\u200b123>" in added
    assert added.endswith("more") and embed.fields[0].name == "Added (503)"
    assert "too large" in embed.fields[1].value


@pytest.mark.parametrize("stage", ["starting", "reading", "chunking", "embedding", "writing", "publishing"])
def test_progress_fits_and_shows_counts_and_eta(stage):
    state = ProgressState(started=0.0)
    for s, total in (
        ("reading", 1000),
        ("chunking", 1000),
        ("embedding", 4000),
        ("writing", 1),
        ("publishing", 1),
    ):
        state.update(s, 0, total, now=1.0)
        if s == stage:
            state.update(s, total // 4, total, now=11.0)
            break
        state.update(s, total, total, now=1.0)
    embed = render_progress(state, who="@everyone <@1> " + "x" * 500, now=11.0)
    assert check_embed(embed) == []
    assert "@everyone" not in embed.description
    if stage == "embedding":
        assert "1,000/4,000 chunks (25%)" in embed.description and "about 30 s left" in embed.description
        assert "✅ Chunking articles (1,000 articles)" in embed.description


def test_sources_page_fits_with_huge_titles():
    articles = {
        f"{'n' * 200}{i}.txt": {
            "title": "T*" * 300 + "@everyone",
            "source": "S" * 500,
            "published": "2025-01-01",
            "chunks": i,
        }
        for i in range(40)
    }
    entries = source_entries(articles)
    for page in range(4):
        embed = render_sources_page(entries, page, version="v-000002-x-y")
        assert check_embed(embed) == [] and "@everyone" not in embed.description


def test_sources_are_newest_first_then_undated():
    entries = source_entries(
        {"a.txt": {"published": "2024-01-01"}, "b.txt": {"published": "2025-06-01"}, "c.txt": {}}
    )
    assert [doc for doc, _ in entries] == ["b.txt", "a.txt", "c.txt"]


def test_stats_fit_with_long_questions():
    stats = Stats(
        answered=10**6,
        refused=10**5,
        latency_p50_ms=1234.0,
        latency_p95_ms=98765.0,
        votes_up=5,
        votes_down=7,
        top_questions=[("Q" * 4000 + " @here", 10**6)] * 5,
    )
    report = ReindexReport(
        added=["x"] * 3, skipped=[("a", "b")], chunks=10, seconds=2.0, finished="2026-01-01T00:00:00Z"
    )
    embed = render_stats(
        stats, last_report=report, last_run={"user_id": 1, "started": 0.0, "outcome": "ok" * 2000}, now=100.0
    )
    assert check_embed(embed) == [] and "@here" not in embed.fields[3].value
