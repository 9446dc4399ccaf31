"""`negotiations-bot bench --quick`: every section is written and every number is sane.

No timing thresholds: the machines that run the tests are shared and noisy. The targets and
their PASS/FAIL live in the report itself.
"""

from __future__ import annotations

import argparse
import json

import pytest

from tests.conftest import SEEDS

pytestmark = pytest.mark.slow

SECTIONS = [
    "## Machine",
    "## Command",
    "## Results against the targets",
    "## Index build",
    "## Ask latency vs index size",
    "## Cold start and memory",
    "## No-op re-index",
    "## Event loop under concurrent questions",
    "## Vector store",
]


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    from bot.settings import Settings
    from bot.tools.bench.command import run_bench_command
    from bot.tools.bench.plan import DEFAULT_SIZES

    tmp = tmp_path_factory.mktemp("bench")
    settings = Settings(_env_file=None, corpus_dir=SEEDS, data_dir=tmp / "data")
    output = tmp / "docs" / "BENCH.md"
    args = argparse.Namespace(quick=True, sizes=DEFAULT_SIZES, output=output)
    status = run_bench_command(args, settings)
    return status, output


def test_quick_bench_writes_every_section(quick_bench):
    status, output = quick_bench
    report = output.read_text("utf-8")
    assert status == 0, report
    for section in SECTIONS:
        assert section in report, section
    assert "## Errors" not in report
    assert "negotiations-bot bench --quick" in report
    assert "![ask latency vs index size](bench_latency.png)" in report
    png = output.parent / "bench_latency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Every target line carries a verdict.
    target_rows = report.split("## Results against the targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in target_rows.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 6
    assert all(any(v in row for v in ("**PASS**", "**FAIL**", "**n/a**")) for row in rows)


def test_quick_bench_numbers_are_sane(quick_bench):
    _, output = quick_bench
    results = json.loads(output.with_suffix(".json").read_text("utf-8"))
    machine = results["machine"]
    assert machine["logical_cpus"] >= 1 and machine["ram_bytes"] > 0 and machine["torch"]

    build = results["build"]
    assert build["chunks"] > 0 and build["articles"] >= 1
    assert [p["kind"] for p in build["passes"]] == ["raw", "build", "raw"]
    assert all(p["chunks"] == build["chunks"] and p["wall_s"] > 0 for p in build["passes"])
    assert build["ratio"] > 0 and build["raw_chunks_per_s"] > 0 and build["build_chunks_per_s"] > 0
    # What was timed is what the index holds: the same texts, the same vectors.
    assert build["same_texts"] is True
    assert build["min_cosine_index_vs_raw"] > 0.999

    serves = [results["real"]] + [row["serve"] for row in results["sweep"]["rows"]]
    assert len(results["sweep"]["rows"]) == len(results["plan"]["sizes"])
    for serve in serves:
        assert serve["chunks"] > 0
        for key in (
            "ask_ms",
            "embed_ms",
            "retrieve_ms",
            "compose_ms",
            "search_without_embedding_ms",
            "bm25_ms",
        ):
            stats = serve[key]
            assert stats["n"] > 0 and 0 <= stats["p50"] <= stats["p95"] <= stats["max"], key
        cold = serve["cold"]
        assert cold["to_first_answer_s"] >= cold["index_load_s"] + cold["model_load_s"] > 0
        assert 50 * 2**20 < serve["rss_after_first_answer"] <= serve["peak_rss"] < 64 * 2**30
        loop = serve["loop"]
        assert loop["answered"] == loop["questions"] == results["plan"]["concurrent_questions"]
        assert not loop["errors"]
        assert loop["max_lag_ms"] >= 0 and loop["answers_per_s"] > 0 and loop["lag_samples"] > 0
    for row in results["sweep"]["rows"]:
        # "about" the requested size: the synthetic corpus is calibrated to it
        assert row["size"] / 2 <= row["build"]["chunks"] <= row["size"] * 2

    stores = results["stores"]
    assert stores["chunks"] > 0 and stores["simple_bytes"] > stores["faiss_bytes"] > 0
    assert stores["simple_load_s"] > 0 and stores["faiss_query_ms"] > 0 and stores["faiss_scan_ms"] > 0

    noop = results["noop"]
    assert noop["articles"] == results["plan"]["noop_articles"]
    assert noop["all_no_op"] is True and noop["same_version"] is True
    assert noop["cold_s"] > 0 and all(s > 0 for s in noop["warm_s"])
