"""The workloads, each run in a fresh subprocess: ``python -m bot.tools.bench.workers MODE``
reads a JSON payload on stdin and prints one result line.

Heavy imports happen inside functions: the serve subprocess runs this module as ``__main__``
and its cold start must measure the bot's imports, not the benchmark's."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from bot.measure import percentile
from bot.tools.bench.inputs import EMBEDDING_DIM, RandomEmbedding, write_synthetic_corpus
from bot.tools.bench.procs import RESULT_MARKER, child_settings, current_rss_bytes, peak_rss_bytes, summarize
from bot.tools.bench.stores import child_quality


def child_synth_build(payload: dict) -> dict:
    """Subprocess: write a synthetic corpus of about ``size`` chunks and index it (random vectors)."""
    from index.library import Library

    settings = child_settings(payload)
    config = settings.library_config()
    t0 = time.perf_counter()
    if payload.get("reuse_corpus"):  # the same articles again, into another store
        n_articles = sum(1 for _ in Path(payload["corpus"]).rglob("*.txt"))
    else:
        n_articles = write_synthetic_corpus(
            Path(payload["corpus"]),
            payload["size"],
            config.chunking,
            tuple(payload["sentences_per_article"]),
            payload["seed"],
        )
    t1 = time.perf_counter()
    library = Library(config, embed_model=RandomEmbedding(payload["seed"]))
    report = library.reindex()
    t2 = time.perf_counter()
    disk = index_bytes(library) if config.database_url is None else None
    return {
        "articles": n_articles,
        "chunks": report.chunks,
        "generate_s": t1 - t0,
        "build_s": t2 - t1,
        "index_bytes": disk,
        "peak_rss": peak_rss_bytes(),
    }


def index_bytes(library) -> int:
    """Bytes on disk of the live version: its manifest and every segment it lists."""
    root = library.store.root
    name = library.store.current_name()
    dirs = [root / name] + [
        root / "segments" / e["id"] for e in library.store.storage.read_manifest(name)["segments"]
    ]
    return sum(p.stat().st_size for d in dirs for p in d.rglob("*") if p.is_file())


def child_add(payload: dict) -> dict:
    """Subprocess: adding one article to a loaded index, as the running bot does (a feed or an
    upload names the file; and a whole-corpus re-index that finds it), then merging everything."""
    import numpy as np

    from bot.tools.bench.inputs import _sentence_pool, _synthetic_article
    from index.library import Library

    settings = child_settings(payload)
    config = replace(settings.library_config(), background_merge=False)
    library = Library(config, embed_model=RandomEmbedding(payload["seed"]))
    t0 = time.perf_counter()
    _ = library.retriever  # loads the version
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(payload["seed"])
    pool = _sentence_pool()
    corpus = Path(payload["corpus"])
    questions = payload["questions"]

    def new_article(i: int) -> str:
        text, _, _ = _synthetic_article(rng, 10_000_000 + i, pool, int(rng.integers(25, 56)))
        name = f"added/bench-{payload['seed']}-{i:04d}.txt"
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, "utf-8")
        return name

    def timed(run) -> tuple[float, object]:
        t = time.perf_counter()
        report = run()
        return time.perf_counter() - t, report

    named, scanned = [], []
    for i in range(payload["adds"]):
        name = new_article(i)
        seconds, report = timed(lambda name=name: library.reindex(only=[name]))
        assert report.added == [name], report.summary()
        named.append({"s": seconds, "chunks": report.embedded_chunks, "segments": report.segments})
    for i in range(payload["adds"], payload["adds"] + payload["scan_adds"]):
        name = new_article(i)
        seconds, report = timed(library.reindex)
        assert report.added == [name], report.summary()
        scanned.append({"s": seconds, "files_read": report.files_read, "segments": report.segments})
    before = [
        [h.node.node_id for h in library.retriever.search(q, query_embedding=_unit(q))] for q in questions
    ]
    segments = len(library.version.segments)
    seconds, merged = timed(lambda: library.merge([s.id for s in library.version.segments]))
    after = [
        [h.node.node_id for h in library.retriever.search(q, query_embedding=_unit(q))] for q in questions
    ]
    return {
        "chunks": library.version.n_chunks,
        "articles": len(library.version.articles),
        "load_s": load_s,
        "named": named,
        "scanned": scanned,
        "named_s": summarize([a["s"] * 1000 for a in named]),
        "scanned_s": summarize([a["s"] * 1000 for a in scanned]),
        "segments_before_merge": segments,
        "merge_s": seconds,
        "merged": bool(merged),
        "same_answers_after_merge": before == after,
        "peak_rss": peak_rss_bytes(),
    }


def _unit(text: str):
    """A fixed unit vector per question (the add phase embeds nothing: no model is loaded)."""
    import hashlib

    import numpy as np

    v = np.frombuffer(hashlib.sha512(text.encode()).digest() * 6, dtype=np.uint8)[:EMBEDDING_DIM].astype(
        "float32"
    )
    return v / np.linalg.norm(v)


def child_noop(payload: dict) -> dict:
    """Subprocess: index N small articles once (random vectors), then time unchanged re-indexes."""
    from index.library import Library

    settings = child_settings(payload)
    config = settings.library_config()
    n_articles = write_synthetic_corpus(
        Path(payload["corpus"]),
        None,
        config.chunking,
        (6, 14),
        payload["seed"],
        n_articles=payload["articles"],
    )
    t0 = time.perf_counter()
    first = Library(config, embed_model=RandomEmbedding(payload["seed"])).reindex()
    initial_s = time.perf_counter() - t0
    # As `negotiations-bot reindex` runs it: a fresh process loads the live version, then finds nothing to do.
    fresh = Library(config, embed_model=RandomEmbedding(1))
    t0 = time.perf_counter()
    cold = fresh.reindex()
    cold_s = time.perf_counter() - t0
    # As the running bot's /reindex runs it: the live version is already loaded.
    warm_s, warm_reports = [], []
    for _ in range(payload["repeats"]):
        t0 = time.perf_counter()
        warm_reports.append(fresh.reindex())
        warm_s.append(time.perf_counter() - t0)
    reports = [cold, *warm_reports]
    return {
        "articles": n_articles,
        "chunks": first.chunks,
        "initial_build_s": initial_s,
        "cold_s": cold_s,
        "warm_s": warm_s,
        "all_no_op": all(r.no_op and r.embedded_chunks == 0 for r in reports),
        "same_version": len({r.version for r in reports} | {first.version}) == 1,
        "embedded_chunks": [r.embedded_chunks for r in reports],
    }


def child_serve(payload: dict) -> dict:
    """Subprocess: cold start to the first answer, warm latency, 50 concurrent questions, peak RSS."""
    t_start = time.time()
    from bot.answering import QuestionError
    from bot.answering.factory import build_answerer

    settings = child_settings(payload)
    answerer = build_answerer(settings)
    library = answerer.library
    t_imported = time.time()
    retriever = library.retriever  # loads the persisted version (never builds: it exists)
    t_index = time.time()
    _ = library.embed_model  # loads it
    t_model = time.time()
    questions = payload["questions"]
    first = answerer.ask(questions[0])
    t_first = time.time()
    rss_after_first = current_rss_bytes()
    cold = {
        "to_first_answer_s": t_first - payload["t_spawn"],
        "interpreter_s": t_start - payload["t_spawn"],
        "imports_s": t_imported - t_start,
        "index_load_s": t_index - t_imported,
        "model_load_s": t_model - t_index,
        "first_ask_s": t_first - t_model,
        "first_refused": first.refused,
    }

    def asks(qs):
        for q in qs:
            try:
                yield q, answerer.ask(q)
            except QuestionError:
                continue

    n = payload["latency_questions"]
    warm_qs = [questions[i % len(questions)] for i in range(1, 1 + payload["warmup_questions"])]
    timed_qs = [questions[i % len(questions)] for i in range(1 + len(warm_qs), 1 + len(warm_qs) + n)]
    for _ in asks(warm_qs):
        library.embed_query("warm-up")
    embed_ms, ask_ms, retrieve_ms, compose_ms, refused = [], [], [], [], 0
    multilingual_ms, ask_without_ml_ms = [], []
    for q in timed_qs:  # interleaved, so load drift affects both alike
        t0 = time.perf_counter()
        library.embed_query(q)
        embed_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        try:
            answer = answerer.ask(q)
        except QuestionError:
            continue
        ask_ms.append((time.perf_counter() - t0) * 1000)
        # The multilingual-e5 query vectors (issue 11) are timed apart, as the issue asks.
        multilingual_ms.append(answer.timings_ms.get("embed_multilingual", 0.0))
        ask_without_ml_ms.append(ask_ms[-1] - multilingual_ms[-1])
        retrieve_ms.append(answer.timings_ms.get("retrieve", 0.0))
        compose_ms.append(answer.timings_ms.get("compose", 0.0))
        refused += answer.refused

    # Where retrieval time goes, with the query embedding given: dense scores, BM25 scores, the
    # whole search.
    import numpy as np

    parts: dict[str, list[float]] = {"dense": [], "bm25": [], "search": []}
    version = retriever.version
    steps = {
        "dense": (lambda q, emb: retriever.dense_scores(q, query_embedding=emb))
        if hasattr(retriever, "dense_scores")
        else None,
        "bm25": lambda q, emb: retriever.bm25_scores(q),
        "search": lambda q, emb: retriever.search(q, query_embedding=emb),
    }
    for q in timed_qs[: max(5, n // 2)]:
        emb = np.asarray(library.embed_query(q), dtype="float32")
        for name, step in steps.items():
            if step is None:
                continue
            t0 = time.perf_counter()
            try:
                step(q, emb)
            except TypeError:  # a signature changed: leave this detail out
                steps[name] = None
                continue
            parts[name].append((time.perf_counter() - t0) * 1000)

    loop = _loop_under_load(answerer, questions, payload["concurrent_questions"])
    return {
        "chunks": version.n_chunks,
        "version": version.name,
        "cold": cold,
        "ask_ms": summarize(ask_ms),
        "embed_ms": summarize(embed_ms),
        "multilingual_ms": summarize(multilingual_ms),
        "ask_without_multilingual_ms": summarize(ask_without_ml_ms),
        "retrieve_ms": summarize(retrieve_ms),
        "compose_ms": summarize(compose_ms),
        "dense_ms": summarize(parts["dense"]),
        "bm25_ms": summarize(parts["bm25"]),
        "search_without_embedding_ms": summarize(parts["search"]),
        "segments": len(version.segments),
        "refused_share": refused / len(ask_ms) if ask_ms else None,
        "loop": loop,
        "rss_after_first_answer": rss_after_first,
        "peak_rss": peak_rss_bytes(),
    }


def child_store_compare(payload: dict) -> dict:
    """Subprocess: the same vectors in LlamaIndex's default SimpleVectorStore (JSON), in
    LlamaIndex's FaissVectorStore and as the flat array the index scans: file size, load time,
    top-50 query time."""
    import faiss
    import numpy as np
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import SimpleVectorStore
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.faiss import FaissVectorStore

    from index.filestore import FileStorage

    storage = FileStorage(Path(payload["data"]) / "index")
    vectors = np.ascontiguousarray(storage.load_version(storage.current_name()).vectors)
    work = Path(payload["work"])
    work.mkdir(parents=True, exist_ok=True)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    faiss_path = work / "vectors.faiss"
    FaissVectorStore(faiss_index=flat).persist(persist_path=str(faiss_path))
    del flat
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((payload["queries"], vectors.shape[1])).astype("float32")
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    def timed_queries(search) -> float:
        search(queries[0])
        times = []
        for q in queries:
            t0 = time.perf_counter()
            search(q)
            times.append((time.perf_counter() - t0) * 1000)
        return percentile(times, 50)

    simple = SimpleVectorStore()
    simple.add([TextNode(id_=str(i), text="", embedding=v.tolist()) for i, v in enumerate(vectors)])
    simple_path = work / "simple_vector_store.json"
    simple.persist(persist_path=str(simple_path))
    del simple
    t0 = time.perf_counter()
    simple = SimpleVectorStore.from_persist_path(str(simple_path))
    simple_load = time.perf_counter() - t0
    simple_query = timed_queries(
        lambda q: simple.query(VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=50))
    )

    t0 = time.perf_counter()
    store = FaissVectorStore.from_persist_path(str(faiss_path))
    faiss_load = time.perf_counter() - t0
    index = store.client
    faiss_query = timed_queries(lambda q: index.search(q[None, :], 50))
    out = np.empty(len(vectors), dtype="float32")
    scan = timed_queries(
        lambda q: faiss.fvec_inner_products_ny(
            faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(vectors), vectors.shape[1], len(vectors)
        )
    )
    return {
        "chunks": len(vectors),
        "simple_bytes": simple_path.stat().st_size,
        "simple_load_s": simple_load,
        "simple_query_ms": simple_query,
        "faiss_bytes": faiss_path.stat().st_size,
        "faiss_load_s": faiss_load,
        "faiss_query_ms": faiss_query,
        "faiss_scan_ms": scan,
    }


def _loop_under_load(answerer, questions: list[str], n: int) -> dict:
    """n questions at once through AnswerService.ask while a task measures event-loop lag."""
    import asyncio

    from bot.answering.service import Admission, AnswerService

    batch = [questions[i % len(questions)] for i in range(n)]
    # Every question is admitted: the bot's defaults would turn most of a burst of 50 away at once
    # as "busy" (4 running + 16 waiting), which measures the queue, not the loop under load.
    service = AnswerService(answerer, admission=Admission(max_waiting=n, timeout_s=None))

    async def main() -> dict:
        lags_idle, lags_busy = [], []
        busy = False
        stop = asyncio.Event()

        async def monitor():
            while not stop.is_set():
                t0 = time.perf_counter()
                await asyncio.sleep(0.010)
                (lags_busy if busy else lags_idle).append((time.perf_counter() - t0 - 0.010) * 1000)

        task = asyncio.create_task(monitor())
        await asyncio.sleep(0.5)  # the idle loop on this machine, for reference
        busy = True
        t0 = time.perf_counter()
        results = await asyncio.gather(*(service.ask(q) for q in batch), return_exceptions=True)
        elapsed = time.perf_counter() - t0
        busy = False
        stop.set()
        await task
        errors = [r for r in results if isinstance(r, BaseException)]
        return {
            "questions": n,
            "answered": n - len(errors),
            "errors": [f"{type(e).__name__}: {e}" for e in errors[:3]],
            "seconds": elapsed,
            "answers_per_s": (n - len(errors)) / elapsed if elapsed else None,
            "max_lag_ms": max(lags_busy, default=0.0),
            "p99_lag_ms": percentile(lags_busy, 99),
            "idle_max_lag_ms": max(lags_idle, default=0.0),
            "lag_samples": len(lags_busy),
            "workers": service._executor._max_workers,
        }

    try:
        return asyncio.run(main())
    finally:
        service.close()


def _child_main(mode: str) -> None:
    import logging

    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
        ("TQDM_DISABLE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
    ):
        os.environ.setdefault(name, value)
    logging.basicConfig(level=logging.WARNING)
    payload = json.loads(sys.stdin.read())
    func = {
        "serve": child_serve,
        "synth-build": child_synth_build,
        "noop": child_noop,
        "store-compare": child_store_compare,
        "add": child_add,
        "quality": child_quality,
    }[mode]
    print(RESULT_MARKER + json.dumps(func(payload)), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1])
