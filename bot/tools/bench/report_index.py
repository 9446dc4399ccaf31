"""Report sections about the index store: adding one article at each size (issue 12)."""

from __future__ import annotations

from bot.tools.bench.plan import TARGET_ADD_RATIO, TARGET_ADD_SECONDS


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
