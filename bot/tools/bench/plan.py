"""What a bench run measures: sizes, repetitions and the targets it is judged against."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SIZES = "1000,10000,100000"
PHASES = ("build", "real", "sweep", "stores", "noop", "postgres")

# Targets from issue 5; the report prints PASS/FAIL next to each measurement.
TARGET_BUILD_RATIO = 0.9
TARGET_LATENCY_RATIO = {10_000: 1.5, 100_000: 2.5}  # ask p50 / query embedding p50, at about this size
TARGET_RSS_BYTES = 1.5 * 2**30  # at 100k chunks
TARGET_NOOP_SECONDS = 2.0
TARGET_LOOP_LAG_MS = 100.0
# Issue 12: adding one article costs about the same whatever the index size.
TARGET_ADD_SECONDS = 1.0  # at about 100k chunks
TARGET_ADD_RATIO = 2.0  # 100k figure ÷ 1k figure
# Issue 14: the PostgreSQL store against the embedded one.
TARGET_PG_ASK_RATIO = 1.5  # warm ask p50 on PostgreSQL ÷ on files, at about 10k chunks
TARGET_PG_QUALITY_DELTA = 0.01  # MultiHop-RAG Hits@10 and MRR@10, at most this far apart
PG_SIZE = 10_000


@dataclass
class Plan:
    sizes: list[int]
    build_articles: int  # MultiHop-RAG articles (plus the seed article) for the build phase
    build_sequence: tuple[str, ...] = ("raw", "build", "raw", "build")
    latency_questions: int = 100
    warmup_questions: int = 5
    concurrent_questions: int = 50
    noop_articles: int = 1000
    noop_repeats: int = 3
    adds: int = 7  # articles added one by one, each named (as a feed or an upload does)
    scan_adds: int = 3  # ...and found by a whole-corpus re-index
    quick: bool = False


def make_plan(args) -> Plan:
    quick = bool(getattr(args, "quick", False))
    sizes_arg = getattr(args, "sizes", DEFAULT_SIZES) or DEFAULT_SIZES
    if quick and sizes_arg == DEFAULT_SIZES:
        sizes_arg = "500"
    sizes = sorted({_parse_size(s) for s in sizes_arg.split(",") if s.strip()})
    if quick:
        return Plan(
            sizes,
            build_articles=1,
            build_sequence=("raw", "build", "raw"),
            latency_questions=8,
            warmup_questions=2,
            concurrent_questions=10,
            noop_articles=100,
            noop_repeats=2,
            adds=3,
            scan_adds=1,
            quick=True,
        )
    return Plan(sizes, build_articles=60)


def _parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = 1000 if text.endswith("k") else 1
    return int(float(text.rstrip("k")) * factor)
