"""``negotiations-bot bench``: the phases in order, each one's failure recorded instead of
aborting the run; the report, the plot and the raw numbers written at the end."""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from bot.tools.bench.build import bench_build
from bot.tools.bench.inputs import load_questions
from bot.tools.bench.plan import DEFAULT_SIZES, PHASES, Plan, make_plan
from bot.tools.bench.procs import load_average, log, machine_info, settings_fields, spawn
from bot.tools.bench.report import plot, render_report, targets
from bot.tools.bench.stores import bench_postgres


def _phase(results: dict, name: str, func, *args):
    load_before = load_average()
    t0 = time.perf_counter()
    try:
        results[name] = func(*args)
    except Exception as exc:  # recorded in the report; the other phases still run
        log(f"{name} FAILED: {exc}")
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    results[name]["phase_s"] = time.perf_counter() - t0
    results[name]["load_before"] = load_before
    results[name]["load_after"] = load_average()


def run_bench(plan: Plan, settings, work: Path, command: str) -> dict:
    results: dict = {
        "command": command,
        "plan": asdict(plan),
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    questions = load_questions(settings.max_question_chars)
    fields = settings_fields(settings)

    log(f"build phase: seed + {plan.build_articles} MultiHop-RAG articles")
    _phase(results, "build", bench_build, plan, settings, work)

    def serve(corpus: str, data: str) -> dict:
        return spawn(
            "serve",
            {
                "corpus": corpus,
                "data": data,
                "settings": fields,
                "questions": questions,
                "latency_questions": plan.latency_questions,
                "warmup_questions": plan.warmup_questions,
                "concurrent_questions": plan.concurrent_questions,
            },
        )

    def sweep() -> dict:
        rows = []
        for size in plan.sizes:
            corpus, data = work / f"synthetic-{size}" / "corpus", work / f"synthetic-{size}" / "data"
            log(f"sweep: building a synthetic index of about {size:,} chunks")
            build = spawn(
                "synth-build",
                {
                    "corpus": str(corpus),
                    "data": str(data),
                    "settings": fields,
                    "size": size,
                    "seed": size,
                    "sentences_per_article": [25, 55],
                },
            )
            log(f"sweep: {build['chunks']:,} chunks built in {build['build_s']:.1f}s; serving it")
            row = {"size": size, "synthetic": True, "build": build, "serve": serve(str(corpus), str(data))}
            row["load"] = load_average()
            log(f"sweep: {size:,} served: ask p50 {row['serve']['ask_ms']['p50']:.1f} ms; adding articles")
            try:
                row["add"] = spawn(
                    "add",
                    {
                        "corpus": str(corpus),
                        "data": str(data),
                        "settings": fields,
                        "seed": size + 1,
                        "adds": plan.adds,
                        "scan_adds": plan.scan_adds,
                        "questions": questions[:10],
                    },
                )
                log(f"sweep: {size:,}: one article added in {row['add']['named_s']['p50']:.0f} ms (p50)")
            except Exception as exc:  # recorded; the other sizes still run
                row["add"] = {"error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
        return {"rows": rows}

    def real() -> dict:
        build = results.get("build", {})
        if "data_dir" not in build:
            raise RuntimeError("the build phase failed, so there is no real index to serve")
        log("serving the real-corpus index from the build phase")
        return serve(build["corpus_dir"], build["data_dir"])

    def store_compare() -> dict:
        rows = [r for r in results.get("sweep", {}).get("rows", []) if "build" in r]
        if not rows:
            raise RuntimeError("the sweep built no index to compare vector stores on")
        small = [r for r in rows if r["build"]["chunks"] <= 10_000]
        row = (
            max(small, key=lambda r: r["build"]["chunks"])
            if small
            else min(rows, key=lambda r: r["build"]["chunks"])
        )
        log(f"vector stores: SimpleVectorStore vs faiss at {row['build']['chunks']:,} chunks")
        return spawn(
            "store-compare",
            {
                "data": str(work / f"synthetic-{row['size']}" / "data"),
                "work": str(work / "store-compare"),
                "queries": 20,
            },
        )

    _phase(results, "real", real)
    _phase(results, "sweep", sweep)
    _phase(results, "stores", store_compare)
    log(f"no-op re-index of {plan.noop_articles} articles")
    _phase(
        results,
        "noop",
        lambda: spawn(
            "noop",
            {
                "corpus": str(work / "noop" / "corpus"),
                "data": str(work / "noop" / "data"),
                "settings": fields,
                "articles": plan.noop_articles,
                "seed": 7,
                "repeats": plan.noop_repeats,
            },
        ),
    )
    log("the PostgreSQL store beside the embedded one")
    _phase(results, "postgres", bench_postgres, plan, settings, work, results)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results["machine"]["load_end"] = load_average()
    return results


def run_bench_command(args, settings) -> int:
    import shutil

    plan = make_plan(args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = ["negotiations-bot", "bench"]
    if args.quick:
        argv.append("--quick")
    if args.sizes != DEFAULT_SIZES:
        argv += ["--sizes", args.sizes]
    if str(output) != "docs/BENCHMARKS.md":
        argv += ["--output", str(output)]
    work = Path(tempfile.mkdtemp(prefix="negotiations-bench-"))
    try:
        results = run_bench(plan, settings, work, " ".join(argv))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    png = output.parent / "bench_latency.png"
    png_name = png.name if plot(results, png) else None
    output.write_text(render_report(results, png_name), "utf-8")
    output.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str), "utf-8")
    print(f"wrote {output}" + (f", {png}" if png_name else "") + f" and {output.with_suffix('.json')}")
    for metric, measured, target, verdict in targets(results):
        print(f"{verdict:4}  {metric}: {measured} (target {target})")
    failed_phases = [name for name in PHASES if "error" in results.get(name, {})]
    return 1 if failed_phases else 0
