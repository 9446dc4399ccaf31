"""Measure the support test on crafted sentences: ``python -m bot.tools.support_eval``.

Each case of tests/data/support_cases.jsonl is a sentence a model might write, the seed
article's sentences it cites (indices into the article's sentences), and whether the cited
sentences support it. The sources are built exactly as for a real answer (exact spans, with the
article's title/source/date). Prints, for the configured thresholds and for a sweep, how many
supported sentences pass and how many unsupported ones are (wrongly) let through.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_CASES = PROJECT / "tests" / "data" / "support_cases.jsonl"
SEED = PROJECT / "seeds" / "000_3b4e6e6ab3547b6d.txt"


@dataclass
class Case:
    sentence: str
    cites: list[int]
    supported: bool
    note: str


@dataclass
class Measured:
    case: Case
    passed: bool
    reason: str
    overlap: float
    similarity: float


def cached(embed):
    """Memoise an embedding function per text (the sweep embeds the same sentences many times)."""
    memory: dict[str, list[float]] = {}

    def embed_cached(texts: list[str]):
        missing = [t for t in dict.fromkeys(texts) if t not in memory]
        if missing:
            memory.update(zip(missing, embed(missing)))
        return [memory[t] for t in texts]

    return embed_cached


def load_cases(path: Path = DEFAULT_CASES) -> list[Case]:
    return [
        Case(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def seed_sources(article_path: Path = SEED):
    """Every sentence of the seed article as a numbered source (n = sentence index + 1)."""
    from bot.answering.model import Citation
    from index.articles import read_article
    from index.chunking import sentence_spans

    article = read_article(article_path, article_path.parent)
    spans = sentence_spans(article.text, article.body_start)
    return [
        Citation(
            i + 1, article.doc_id, article.title, article.source, article.published, article.text[a:b], a, b
        )
        for i, (a, b) in enumerate(spans)
    ]


def measure(cases: list[Case], embed, config=None) -> list[Measured]:
    from bot.answering.verify import SupportConfig, Verifier

    verifier = Verifier(seed_sources(), embed, config or SupportConfig())
    results = []
    for case in cases:
        passed, reason, overlap, similarity = verifier.support(case.sentence, [i + 1 for i in case.cites])
        results.append(Measured(case, passed, reason, overlap, similarity))
    return results


def summary(results: list[Measured]) -> dict[str, int]:
    return {
        "supported": sum(r.case.supported for r in results),
        "supported_passed": sum(r.case.supported and r.passed for r in results),
        "unsupported": sum(not r.case.supported for r in results),
        "unsupported_passed": sum(not r.case.supported and r.passed for r in results),
    }


def report(cases: list[Case], embed) -> str:
    from bot.answering.verify import SupportConfig

    base = SupportConfig()
    lines = ["| test | supported passed | unsupported let through |", "| --- | --- | --- |"]

    def row(label: str, config) -> list[Measured]:
        results = measure(cases, embed, config)
        s = summary(results)
        lines.append(
            f"| {label} | {s['supported_passed']}/{s['supported']} | {s['unsupported_passed']}/{s['unsupported']} |"
        )
        return results

    configured = row(
        f"**configured**: facts + overlap ≥ {base.min_overlap} + similarity ≥ {base.min_similarity}", base
    )
    row("facts only (numbers, names, negation)", replace(base, min_overlap=0.0, min_similarity=-1.0))
    row(f"facts + overlap ≥ {base.min_overlap}, no similarity", replace(base, min_similarity=-1.0))
    row(
        f"overlap ≥ {base.min_overlap} + similarity ≥ {base.min_similarity}, no facts",
        replace(base, strict_facts=False),
    )
    for overlap in (0.5, 0.6, 0.67, 0.75, 0.8, 1.0):
        row(
            f"overlap ≥ {overlap} only",
            SupportConfig(min_overlap=overlap, min_similarity=-1.0, strict_facts=False),
        )
    for similarity in (0.4, 0.5, 0.6, 0.7, 0.8):
        row(
            f"similarity ≥ {similarity} only",
            SupportConfig(min_overlap=0.0, min_similarity=similarity, strict_facts=False),
        )
    for overlap, similarity in ((0.6, 0.5), (0.67, 0.5), (0.75, 0.4), (0.75, 0.6), (0.8, 0.5)):
        row(
            f"facts + overlap ≥ {overlap} + similarity ≥ {similarity}",
            SupportConfig(min_overlap=overlap, min_similarity=similarity),
        )
    lines += [
        "",
        "With the configured thresholds:",
        "",
        "| expected | passed | overlap | similarity | sentence | reason |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(configured, key=lambda r: (not r.case.supported, r.passed == r.case.supported)):
        mark = "ok" if r.passed == r.case.supported else "**wrong**"
        lines.append(
            f"| {'supported' if r.case.supported else 'unsupported'} ({r.case.note}) | {'yes' if r.passed else 'no'} ({mark}) | {r.overlap:.2f} | {r.similarity:.2f} | {r.case.sentence} [{']['.join(str(i + 1) for i in r.case.cites)}] | {r.reason} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    args = parser.parse_args(argv)
    from index.embedding import load_embed_model

    model = load_embed_model()
    print(report(load_cases(args.cases), cached(model.get_text_embedding_batch)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
