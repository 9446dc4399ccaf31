"""``negotiations-bot bench``: speed, scale and memory of the real code paths, in one run.

Writes a Markdown report (default ``docs/BENCHMARKS.md``), a PNG of ask latency against index
size next to it (``bench_latency.png``) and the raw numbers (same name as the report, ``.json``).

Phases (each one's failure is recorded in the report instead of aborting the run):

* **build** — chunks/s of a full re-index through ``Library.reindex`` (reading, chunking,
  embedding, faiss + BM25, persisting) against ``SentenceTransformer.encode`` of exactly the
  texts the index embeds (chunk + title/source/date header), in this process, alternating
  raw → build → raw so that a drift in machine load hits both sides.
* **sweep** — for each size, a subprocess builds a synthetic index (sentences of the real
  corpus recombined into articles; random unit vectors instead of embeddings, written through
  the same ``Library.reindex``/version format) and a fresh subprocess serves it: cold start to
  the first answer, warm ``Answerer.ask`` latency beside one query embedding, 50 concurrent
  questions through ``AnswerService`` under an event-loop lag monitor, and its peak RSS.
* **stores** — the vectors of the ~10k synthetic index in LlamaIndex's default
  ``SimpleVectorStore`` (JSON) against the faiss flat index: file size, load and query time.
* **noop** — a subprocess indexes 1,000 small synthetic articles, then times re-indexing the
  unchanged corpus.

Heavy imports happen inside functions: the serve subprocess runs this module as ``__main__``
and its cold start must measure the bot's imports, not the benchmark's.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = "1000,10000,100000"
RESULT_MARKER = "BENCH-RESULT "
PHASES = ("build", "real", "sweep", "stores", "noop")
EMBEDDING_DIM = 384

# Targets from issue 5; the report prints PASS/FAIL next to each measurement.
TARGET_BUILD_RATIO = 0.9
TARGET_LATENCY_RATIO = {10_000: 1.5, 100_000: 2.5}  # ask p50 / query embedding p50, at about this size
TARGET_RSS_BYTES = 1.5 * 2**30  # at 100k chunks
TARGET_NOOP_SECONDS = 2.0
TARGET_LOOP_LAG_MS = 100.0


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
    quick: bool = False


def make_plan(args) -> Plan:
    quick = bool(getattr(args, "quick", False))
    sizes_arg = getattr(args, "sizes", DEFAULT_SIZES) or DEFAULT_SIZES
    if quick and sizes_arg == DEFAULT_SIZES:
        sizes_arg = "500"
    sizes = sorted({_parse_size(s) for s in sizes_arg.split(",") if s.strip()})
    if quick:
        return Plan(sizes, build_articles=1, build_sequence=("raw", "build", "raw"), latency_questions=8, warmup_questions=2, concurrent_questions=10,
                    noop_articles=100, noop_repeats=2, quick=True)
    return Plan(sizes, build_articles=60)


def _parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = 1000 if text.endswith("k") else 1
    return int(float(text.rstrip("k")) * factor)


# ---------------------------------------------------------------- inputs


def multihop_dir() -> Path | None:
    """The MultiHop-RAG subset shared beside the project (never copied into the repo)."""
    for candidate in (os.environ.get("BENCH_MULTIHOP_DIR"), PROJECT.parent / "shared" / "multihop-rag"):
        if candidate and (Path(candidate) / "corpus").is_dir():
            return Path(candidate)
    return None


def load_questions(max_chars: int) -> list[str]:
    """Question texts only (no answers are used): MultiHop-RAG's and the seed dev questions."""
    import random

    questions: list[str] = []
    sources = [PROJECT / "tests" / "data" / "questions.dev.jsonl"]
    mh = multihop_dir()
    if mh and (mh / "questions.jsonl").is_file():
        sources.append(mh / "questions.jsonl")
    for path in sources:
        if path.is_file():
            for line in path.read_text("utf-8").splitlines():
                if line.strip():
                    q = json.loads(line).get("question", "")
                    if q and len(q) <= max_chars:
                        questions.append(q)
    random.Random(0).shuffle(questions)
    return questions or ["What did Putin agree to?"]


def link_build_corpus(target: Path, n_multihop: int) -> list[str]:
    """The seed articles plus the first n MultiHop-RAG articles, as symlinks (no copies)."""
    target.mkdir(parents=True)
    used = []
    for path in sorted((PROJECT / "seeds").iterdir()):
        (target / path.name).symlink_to(path)
        used.append(f"seeds/{path.name}")
    mh = multihop_dir()
    if mh and n_multihop:
        for path in sorted((mh / "corpus").glob("*.txt"))[:n_multihop]:
            (target / path.name).symlink_to(path)
            used.append(f"multihop-rag/corpus/{path.name}")
    return used


# ---------------------------------------------------------------- synthetic corpora and vectors


def _sentence_pool() -> tuple[list[str], list[str], list[str]]:
    """Sentences, titles and sources of the real corpus (MultiHop-RAG subset if present, seeds)."""
    from index.articles import load_corpus
    from index.chunking import sentence_spans

    dirs = [PROJECT / "seeds"]
    mh = multihop_dir()
    if mh:
        dirs.append(mh / "corpus")
    sentences, titles, sources = [], [], []
    for directory in dirs:
        for article in load_corpus(directory).articles:
            titles.append(article.title)
            sources.append(article.source or "Unknown")
            for a, b in sentence_spans(article.text, article.body_start):
                words = article.text[a:b].split()
                if 5 <= len(words) <= 60:
                    sentences.append(" ".join(words))
    return sentences, titles, sources


def _synthetic_article(rng, i: int, pool, n_sentences: int) -> tuple[str, dict[str, str], int]:
    sentences, titles, sources = pool
    title = f"{titles[rng.integers(len(titles))]} (synthetic {i})"
    meta = {
        "title": title,
        "source": sources[rng.integers(len(sources))],
        "published": f"2023-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
    }
    header = f"Title: {meta['title']}\nSource: {meta['source']}\nPublished: {meta['published']}\n\n"
    picks = [sentences[j] for j in rng.integers(len(sentences), size=n_sentences)]
    paragraphs = []
    while picks:
        size = int(rng.integers(2, 6))
        paragraphs.append(" ".join(picks[:size]))
        picks = picks[size:]
    return header + "\n".join(paragraphs) + "\n", meta, len(header)


def write_synthetic_corpus(target: Path, n_chunks: int | None, chunking, sentences_per_article: tuple[int, int], seed: int,
                           n_articles: int | None = None) -> int:
    """Write articles of recombined real sentences: ``n_articles`` of them, or enough for about
    ``n_chunks`` chunks (calibrated with the real chunker first). Returns the number written."""
    import numpy as np

    from index.articles import Article
    from index.chunking import chunk_article

    rng = np.random.default_rng(seed)
    pool = _sentence_pool()
    low, high = sentences_per_article
    if n_articles is None:
        calibration = []
        for i in range(30):
            text, meta, body_start = _synthetic_article(rng, i, pool, int(rng.integers(low, high + 1)))
            calibration.append(len(chunk_article(Article(f"c{i}.txt", text, body_start, f"{i:064x}", meta), chunking)))
        n_articles = max(1, round(n_chunks / (sum(calibration) / len(calibration))))
    rng = np.random.default_rng(seed)
    for i in range(n_articles):
        text, _, _ = _synthetic_article(rng, i, pool, int(rng.integers(low, high + 1)))
        folder = target / f"part-{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"synthetic-{i:06d}.txt").write_text(text, "utf-8")
    return n_articles


class RandomEmbedding:
    """Stands in for the embedding model when building large indexes: random unit vectors."""

    def __init__(self, seed: int = 0):
        import numpy as np

        self._rng = np.random.default_rng(seed)
        self.calls = 0

    def get_text_embedding_batch(self, texts, **_):
        import numpy as np

        self.calls += 1
        vectors = self._rng.standard_normal((len(texts), EMBEDDING_DIM)).astype("float32")
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def get_query_embedding(self, text):  # the build never embeds a query
        raise RuntimeError("RandomEmbedding is for building synthetic indexes only")


# ---------------------------------------------------------------- small helpers


def _percentile(values: list[float], q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if values else None


def _summary(values_ms: list[float]) -> dict:
    return {"n": len(values_ms), "p50": _percentile(values_ms, 50), "p95": _percentile(values_ms, 95),
            "mean": sum(values_ms) / len(values_ms) if values_ms else None, "max": max(values_ms, default=None)}


def _proc_status(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss_bytes() -> int:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    subprocess would report its parent's size at fork."""
    peak = _proc_status("VmHWM")
    if peak is None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak


def _current_rss_bytes() -> int | None:
    return _proc_status("VmRSS")


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _settings_fields(settings) -> dict:
    """Every setting except secrets and the two directories, for the subprocesses."""
    return settings.model_dump(mode="json", exclude={"discord_token", "corpus_dir", "data_dir"})


def _child_settings(payload: dict):
    from bot.settings import Settings

    return Settings(_env_file=None, corpus_dir=Path(payload["corpus"]), data_dir=Path(payload["data"]), **payload["settings"])


# ---------------------------------------------------------------- subprocesses


def _spawn(mode: str, payload: dict, timeout: float = 4 * 3600) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")]))
    payload = payload | {"t_spawn": time.time()}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.bench", mode],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
    raise RuntimeError(f"bench subprocess '{mode}' exited {proc.returncode} without a result:\n{tail}")


def child_synth_build(payload: dict) -> dict:
    """Subprocess: write a synthetic corpus of about ``size`` chunks and index it (random vectors)."""
    from index.library import Library

    settings = _child_settings(payload)
    config = settings.library_config()
    t0 = time.perf_counter()
    n_articles = write_synthetic_corpus(Path(payload["corpus"]), payload["size"], config.chunking,
                                        tuple(payload["sentences_per_article"]), payload["seed"])
    t1 = time.perf_counter()
    library = Library(config, embed_model=RandomEmbedding(payload["seed"]))
    report = library.reindex()
    t2 = time.perf_counter()
    version_dir = library.store.root / report.version
    disk = sum(p.stat().st_size for p in version_dir.rglob("*") if p.is_file())
    return {"articles": n_articles, "chunks": report.chunks, "generate_s": t1 - t0, "build_s": t2 - t1,
            "index_bytes": disk, "peak_rss": _peak_rss_bytes()}


def child_noop(payload: dict) -> dict:
    """Subprocess: index N small articles once (random vectors), then time unchanged re-indexes."""
    from index.library import Library

    settings = _child_settings(payload)
    config = settings.library_config()
    n_articles = write_synthetic_corpus(Path(payload["corpus"]), None, config.chunking, (6, 14), payload["seed"],
                                        n_articles=payload["articles"])
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
    from bot.answering import QuestionError, answerer_from_settings

    settings = _child_settings(payload)
    answerer = answerer_from_settings(settings)
    library = answerer.library
    t_imported = time.time()
    retriever = library.retriever  # loads the persisted version (never builds: it exists)
    t_index = time.time()
    library.embed_model
    t_model = time.time()
    questions = payload["questions"]
    first = answerer.ask(questions[0])
    t_first = time.time()
    rss_after_first = _current_rss_bytes()
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
        retrieve_ms.append(answer.timings_ms.get("retrieve", 0.0))
        compose_ms.append(answer.timings_ms.get("compose", 0.0))
        refused += answer.refused

    # Where retrieval time goes, with the query embedding given: dense scores, BM25 scores, the
    # whole search; and a faiss top-k search (the vector store on its own).
    import numpy as np

    parts: dict[str, list[float]] = {"dense": [], "bm25": [], "search": [], "faiss": []}
    version = retriever.version
    k = min(getattr(retriever.config, "candidates", 50), version.n_chunks)
    steps = {
        "dense": (lambda q, emb: retriever.dense_scores(q, query_embedding=emb)) if hasattr(retriever, "dense_scores") else None,
        "bm25": lambda q, emb: retriever.bm25_scores(q),
        "search": lambda q, emb: retriever.search(q, query_embedding=emb),
        "faiss": lambda q, emb: version.vector_store.client.search(emb[None, :], k),
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
        "ask_ms": _summary(ask_ms),
        "embed_ms": _summary(embed_ms),
        "retrieve_ms": _summary(retrieve_ms),
        "compose_ms": _summary(compose_ms),
        "dense_ms": _summary(parts["dense"]),
        "bm25_ms": _summary(parts["bm25"]),
        "search_without_embedding_ms": _summary(parts["search"]),
        "faiss_ms": _summary(parts["faiss"]),
        "refused_share": refused / len(ask_ms) if ask_ms else None,
        "loop": loop,
        "rss_after_first_answer": rss_after_first,
        "peak_rss": _peak_rss_bytes(),
    }


def child_store_compare(payload: dict) -> dict:
    """Subprocess: the same vectors in LlamaIndex's default SimpleVectorStore (JSON) and in the
    faiss flat index the project uses: file size, load time, top-50 query time."""
    import faiss
    import numpy as np
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import SimpleVectorStore
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.faiss import FaissVectorStore

    root = Path(payload["data"]) / "index"
    version = root / (root / "CURRENT").read_text("utf-8").strip()
    vectors = faiss.read_index(str(version / "vectors.faiss"))
    vectors = vectors.reconstruct_n(0, vectors.ntotal)
    work = Path(payload["work"])
    work.mkdir(parents=True, exist_ok=True)
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
        return _percentile(times, 50)

    simple = SimpleVectorStore()
    simple.add([TextNode(id_=str(i), text="", embedding=v.tolist()) for i, v in enumerate(vectors)])
    simple_path = work / "simple_vector_store.json"
    simple.persist(persist_path=str(simple_path))
    del simple
    t0 = time.perf_counter()
    simple = SimpleVectorStore.from_persist_path(str(simple_path))
    simple_load = time.perf_counter() - t0
    simple_query = timed_queries(lambda q: simple.query(VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=50)))

    t0 = time.perf_counter()
    store = FaissVectorStore.from_persist_path(str(version / "vectors.faiss"))
    faiss_load = time.perf_counter() - t0
    index = store.client
    faiss_query = timed_queries(lambda q: index.search(q[None, :], 50))
    out = np.empty(len(vectors), dtype="float32")
    scan = timed_queries(lambda q: faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(vectors), vectors.shape[1], len(vectors)))
    return {
        "chunks": int(len(vectors)),
        "simple_bytes": simple_path.stat().st_size,
        "simple_load_s": simple_load,
        "simple_query_ms": simple_query,
        "faiss_bytes": (version / "vectors.faiss").stat().st_size,
        "faiss_load_s": faiss_load,
        "faiss_query_ms": faiss_query,
        "faiss_scan_ms": scan,
    }


def _loop_under_load(answerer, questions: list[str], n: int) -> dict:
    """n questions at once through AnswerService.ask while a task measures event-loop lag."""
    import asyncio

    from bot.service import AnswerService

    batch = [questions[i % len(questions)] for i in range(n)]
    service = AnswerService(answerer)

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
            "p99_lag_ms": _percentile(lags_busy, 99),
            "idle_max_lag_ms": max(lags_idle, default=0.0),
            "lag_samples": len(lags_busy),
            "workers": service._executor._max_workers,
        }

    try:
        return asyncio.run(main())
    finally:
        service.close()


# ---------------------------------------------------------------- the build phase (in this process)


def bench_build(plan: Plan, settings, work: Path) -> dict:
    import numpy as np
    from llama_index.core.schema import MetadataMode
    from sentence_transformers import SentenceTransformer

    from index.articles import load_corpus
    from index.chunking import chunk_article
    from index.embedding import load_embed_model, model_path
    from index.library import Library

    corpus = work / "build-corpus"
    used = link_build_corpus(corpus, plan.build_articles)
    base_config = settings.library_config()
    loaded = load_corpus(corpus, base_config.max_article_bytes)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED)
             for a in loaded.articles for n in chunk_article(a, base_config.chunking)]
    t0 = time.perf_counter()
    embed_model = load_embed_model()
    raw_model = SentenceTransformer(str(model_path()), device="cpu")
    load_s = time.perf_counter() - t0
    # Warm both (first calls allocate and pick kernels), longest texts included.
    warm = sorted(texts, key=len)[-64:] + texts[:64]
    raw_model.encode(warm)
    embed_model.get_text_embedding_batch(warm)

    passes = []
    raw_vectors = built_version = built_dir = None
    for i, kind in enumerate(plan.build_sequence):
        load_before = _load()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if kind == "raw":
            raw_vectors = raw_model.encode(texts)
            chunks = len(texts)
            stages = {}
        else:
            stage_times: dict[str, list[float]] = {}

            def progress(stage, done, total, stage_times=stage_times):
                now = time.perf_counter()
                stage_times.setdefault(stage, [now, now])[1] = now

            built_dir = work / f"build-data-{i}"
            config = replace(base_config, data_dir=built_dir, corpus_dir=corpus)
            library = Library(config, embed_model=embed_model)
            report = library.reindex(progress=progress)
            chunks = report.chunks
            built_version = library.version
            stages = {name: end - start for name, (start, end) in stage_times.items()}
            stages["embedding_share"] = stages.get("embedding", 0) / max(1e-9, time.perf_counter() - wall0)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        passes.append({"kind": kind, "chunks": chunks, "wall_s": wall, "cpu_s": cpu, "chunks_per_s": chunks / wall,
                       "chunks_per_cpu_s": chunks / cpu, "load_before": load_before, "stages_s": stages})
        _log(f"build phase: {kind} {chunks} chunks in {wall:.1f}s ({chunks / wall:.1f}/s)")

    raw = [p for p in passes if p["kind"] == "raw"]
    built = [p for p in passes if p["kind"] == "build"]
    # Best pass of each kind: on a shared machine other work only ever slows a pass down, so the
    # fastest pass is the closest to what the code itself costs (the means are reported too).
    raw_rate = max(p["chunks_per_s"] for p in raw)
    build_rate = max(p["chunks_per_s"] for p in built)
    raw_cpu_rate = max(p["chunks_per_cpu_s"] for p in raw)
    build_cpu_rate = max(p["chunks_per_cpu_s"] for p in built)
    mean_ratio = (sum(p["chunks_per_s"] for p in built) / len(built)) / (sum(p["chunks_per_s"] for p in raw) / len(raw))
    # The index must hold what was timed: the same texts, and the same vectors as the raw encode.
    index_texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in built_version.nodes]
    same_texts = sorted(index_texts) == sorted(texts)
    raw_norm = raw_vectors / np.linalg.norm(raw_vectors, axis=1, keepdims=True)
    by_text = {t: i for i, t in enumerate(texts)}
    rows = [by_text[t] for t in index_texts if t in by_text]
    min_cos = float(np.min(np.sum(built_version.vectors[: len(rows)] * raw_norm[rows], axis=1))) if rows else None
    return {
        "articles": len(loaded.articles),
        "corpus_files": used,
        "chunks": len(texts),
        "model_load_s": load_s,
        "passes": passes,
        "raw_chunks_per_s": raw_rate,
        "build_chunks_per_s": build_rate,
        "ratio": build_rate / raw_rate,
        "cpu_ratio": build_cpu_rate / raw_cpu_rate,
        "mean_ratio": mean_ratio,
        "same_texts": same_texts,
        "min_cosine_index_vs_raw": min_cos,
        "embed_batch": getattr(embed_model, "embed_batch_size", None),
        "raw_batch": 32,
        "data_dir": str(built_dir),
        "corpus_dir": str(corpus),
    }


# ---------------------------------------------------------------- the whole run


def _phase(results: dict, name: str, func, *args):
    load_before = _load()
    t0 = time.perf_counter()
    try:
        results[name] = func(*args)
    except Exception as exc:  # recorded in the report; the other phases still run
        _log(f"{name} FAILED: {exc}")
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    results[name]["phase_s"] = time.perf_counter() - t0
    results[name]["load_before"] = load_before
    results[name]["load_after"] = _load()


def run_bench(plan: Plan, settings, work: Path, command: str) -> dict:
    results: dict = {"command": command, "plan": asdict(plan), "machine": machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    questions = load_questions(settings.max_question_chars)
    fields = _settings_fields(settings)

    _log(f"build phase: seed + {plan.build_articles} MultiHop-RAG articles")
    _phase(results, "build", bench_build, plan, settings, work)

    def serve(corpus: str, data: str) -> dict:
        return _spawn("serve", {"corpus": corpus, "data": data, "settings": fields, "questions": questions,
                                "latency_questions": plan.latency_questions, "warmup_questions": plan.warmup_questions,
                                "concurrent_questions": plan.concurrent_questions})

    def sweep() -> dict:
        rows = []
        for size in plan.sizes:
            corpus, data = work / f"synthetic-{size}" / "corpus", work / f"synthetic-{size}" / "data"
            _log(f"sweep: building a synthetic index of about {size:,} chunks")
            build = _spawn("synth-build", {"corpus": str(corpus), "data": str(data), "settings": fields, "size": size,
                                           "seed": size, "sentences_per_article": [25, 55]})
            _log(f"sweep: {build['chunks']:,} chunks built in {build['build_s']:.1f}s; serving it")
            rows.append({"size": size, "synthetic": True, "build": build, "serve": serve(str(corpus), str(data)),
                         "load": _load()})
            _log(f"sweep: {size:,} done: ask p50 {rows[-1]['serve']['ask_ms']['p50']:.1f} ms")
        return {"rows": rows}

    def real() -> dict:
        build = results.get("build", {})
        if "data_dir" not in build:
            raise RuntimeError("the build phase failed, so there is no real index to serve")
        _log("serving the real-corpus index from the build phase")
        return serve(build["corpus_dir"], build["data_dir"])

    def store_compare() -> dict:
        rows = [r for r in results.get("sweep", {}).get("rows", []) if "build" in r]
        if not rows:
            raise RuntimeError("the sweep built no index to compare vector stores on")
        small = [r for r in rows if r["build"]["chunks"] <= 10_000]
        row = max(small, key=lambda r: r["build"]["chunks"]) if small else min(rows, key=lambda r: r["build"]["chunks"])
        _log(f"vector stores: SimpleVectorStore vs faiss at {row['build']['chunks']:,} chunks")
        return _spawn("store-compare", {"data": str(work / f"synthetic-{row['size']}" / "data"), "work": str(work / "store-compare"),
                                        "queries": 20})

    _phase(results, "real", real)
    _phase(results, "sweep", sweep)
    _phase(results, "stores", store_compare)
    _log(f"no-op re-index of {plan.noop_articles} articles")
    _phase(results, "noop", lambda: _spawn("noop", {"corpus": str(work / "noop" / "corpus"), "data": str(work / "noop" / "data"),
                                                   "settings": fields, "articles": plan.noop_articles, "seed": 7,
                                                   "repeats": plan.noop_repeats}))
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results["machine"]["load_end"] = _load()
    return results


def machine_info() -> dict:
    import faiss
    import numpy
    import psutil
    import sentence_transformers
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT, capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "", False
    try:
        from importlib.metadata import version

        llama = version("llama-index-core")
        bm25s_version = version("bm25s")
    except Exception:
        llama = bm25s_version = "?"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "llama_index_core": llama,
        "bm25s": bm25s_version,
        "git": commit + ("-dirty" if dirty else ""),
        "load_start": _load(),
    }


# ---------------------------------------------------------------- the report


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _fmt(value, spec=".1f", suffix="") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _gb(n) -> str:
    return "—" if n is None else f"{n / 2**30:.2f} GB"


def _closest(rows: list[dict], size: int) -> dict | None:
    """The sweep row for "about size" chunks (within a factor of 2), if the run had one."""
    candidates = [r for r in rows if "serve" in r and size / 2 <= r["serve"]["chunks"] <= size * 2]
    return min(candidates, key=lambda r: abs(r["serve"]["chunks"] - size), default=None)


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    """(metric, measured, target, PASS/FAIL) rows."""
    rows = []
    build = results.get("build", {})
    if "ratio" in build:
        rows.append(("Index build: full re-index chunks/s ÷ raw `SentenceTransformer.encode` chunks/s (best pass of each)",
                     f"{build['ratio']:.2f} ({build['build_chunks_per_s']:.1f} vs {build['raw_chunks_per_s']:.1f} chunks/s)",
                     f"≥ {TARGET_BUILD_RATIO}", _verdict(build["ratio"] >= TARGET_BUILD_RATIO)))
    else:
        rows.append(("Index build ratio", "error", f"≥ {TARGET_BUILD_RATIO}", "FAIL"))
    sweep_rows = results.get("sweep", {}).get("rows", [])
    for size, limit in TARGET_LATENCY_RATIO.items():
        row = _closest(sweep_rows, size)
        if row is None:
            rows.append((f"Warm ask p50 ÷ query embedding p50 at ~{size:,} chunks", "not measured (size not in --sizes)", f"≤ {limit}×", "n/a"))
            continue
        s = row["serve"]
        ratio = s["ask_ms"]["p50"] / s["embed_ms"]["p50"]
        rows.append((f"Warm ask p50 ÷ query embedding p50 at {s['chunks']:,} chunks",
                     f"{ratio:.2f}× ({s['ask_ms']['p50']:.1f} ms vs {s['embed_ms']['p50']:.1f} ms)", f"≤ {limit}×", _verdict(ratio <= limit)))
    row = _closest(sweep_rows, 100_000)
    if row is None:
        rows.append(("Peak RSS serving ~100,000 chunks", "not measured (size not in --sizes)", "≤ 1.5 GB", "n/a"))
    else:
        rss = row["serve"]["peak_rss"]
        rows.append((f"Peak RSS serving {row['serve']['chunks']:,} chunks (load, model, answers, 50 concurrent)", _gb(rss), "≤ 1.5 GB", _verdict(rss <= TARGET_RSS_BYTES)))
    noop = results.get("noop", {})
    if "warm_s" in noop:
        warm = max(noop["warm_s"])
        rows.append((f"No-op re-index of {noop['articles']:,} articles, in the running bot (slowest of {len(noop['warm_s'])})",
                     f"{warm:.2f} s", f"≤ {TARGET_NOOP_SECONDS:.0f} s", _verdict(warm <= TARGET_NOOP_SECONDS and noop["all_no_op"])))
        rows.append((f"No-op re-index of {noop['articles']:,} articles, fresh `negotiations-bot reindex` process",
                     f"{noop['cold_s']:.2f} s", f"≤ {TARGET_NOOP_SECONDS:.0f} s", _verdict(noop["cold_s"] <= TARGET_NOOP_SECONDS and noop["all_no_op"])))
    else:
        rows.append(("No-op re-index", "error", f"≤ {TARGET_NOOP_SECONDS:.0f} s", "FAIL"))
    serves = [("real", results.get("real"))] + [(r["size"], r.get("serve")) for r in sweep_rows]
    lags = [(s["chunks"], s["loop"]) for _, s in serves if s and "loop" in s]
    if lags:
        worst_chunks, worst = max(lags, key=lambda x: x[1]["max_lag_ms"])
        ok = all(loop["max_lag_ms"] < TARGET_LOOP_LAG_MS and not loop["errors"] for _, loop in lags)
        rows.append((f"Event loop max lag, {worst['questions']} concurrent questions (worst over {len(lags)} index sizes: {worst_chunks:,} chunks)",
                     f"{worst['max_lag_ms']:.1f} ms ({worst['answers_per_s']:.1f} answers/s)", f"< {TARGET_LOOP_LAG_MS:.0f} ms", _verdict(ok)))
    else:
        rows.append(("Event loop max lag", "error", f"< {TARGET_LOOP_LAG_MS:.0f} ms", "FAIL"))
    return rows


def plot(results: dict, path: Path) -> bool:
    rows = [r for r in results.get("sweep", {}).get("rows", []) if "serve" in r]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chunks = [r["serve"]["chunks"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(chunks, [r["serve"]["ask_ms"]["p50"] for r in rows], "o-", label="ask p50")
    ax.plot(chunks, [r["serve"]["ask_ms"]["p95"] for r in rows], "s--", label="ask p95")
    ax.plot(chunks, [r["serve"]["retrieve_ms"]["p50"] for r in rows], "^-", label="retrieve p50 (incl. query embedding)")
    ax.plot(chunks, [r["serve"]["embed_ms"]["p50"] for r in rows], "d:", color="gray", label="one query embedding p50")
    for size, limit in TARGET_LATENCY_RATIO.items():
        row = _closest(rows, size)
        if row:
            ax.plot([row["serve"]["chunks"]], [limit * row["serve"]["embed_ms"]["p50"]], "rv", markersize=9)
    ax.plot([], [], "rv", label="target p50 (×1.5 at 10k, ×2.5 at 100k)")
    ax.set_xscale("log")
    ax.set_xlabel("index size (chunks)")
    ax.set_ylabel("milliseconds")
    ax.set_ylim(bottom=0)
    ax.set_title("Warm ask latency vs index size (retrieval + composing, no LLM)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def render_report(results: dict, png_name: str | None) -> str:
    m = results["machine"]
    plan = results["plan"]
    out = [
        "# Benchmarks",
        "",
        f"Written by `negotiations-bot bench` ({'quick smoke run' if plan['quick'] else 'full run'}), "
        f"{results['started']} → {results['finished']}, commit `{m['git']}`. Every number below was measured in this one run.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} — {m['logical_cpus']} logical CPUs ({m['physical_cores']} physical cores), {m['usable_cpus']} usable |",
        f"| RAM | {m['ram_bytes'] / 2**30:.1f} GB |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| torch | {m['torch']} ({m['torch_threads']} intra-op threads for batches; one per query embedding, see `index/embedding.py`) |",
        f"| faiss | {m['faiss']} |",
        f"| sentence-transformers / transformers | {m['sentence_transformers']} / {m['transformers']} |",
        f"| llama-index-core / bm25s / numpy | {m['llama_index_core']} / {m['bm25s']} / {m['numpy']} |",
        f"| load average (1, 5, 15 min) | start {m['load_start']}, end {m.get('load_end')} |",
        "",
        "The load average counts runnable processes: above the number of CPUs, other work shared them "
        "during the run and absolute times are slower than on an idle machine (ratios measured side by side suffer less).",
        "",
        "## Command",
        "",
        "```",
        results["command"],
        "```",
        "",
        "## Results against the targets",
        "",
        "| metric | measured | target | result |",
        "|---|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} | **{d}** |" for a, b, c, d in targets(results)]
    out += ["", *_build_section(results), *_latency_section(results, png_name), *_cold_section(results),
            *_noop_section(results), *_loop_section(results), *_store_section(results), *_errors_section(results)]
    return "\n".join(out) + "\n"


def _build_section(results: dict) -> list[str]:
    b = results.get("build", {})
    out = ["## Index build", ""]
    if "ratio" not in b:
        return out + [f"Not measured: {b.get('error', 'skipped')}", ""]
    out += [
        f"Corpus: the seed article and the first {b['articles'] - 1} MultiHop-RAG articles of `../shared/multihop-rag/corpus` "
        f"(read in place, never copied), {b['articles']} articles → **{b['chunks']} chunks**. "
        "`build` is a full `Library.reindex()` into an empty data dir (read, chunk, embed with the project's "
        f"LlamaIndex `HuggingFaceEmbedding`, batch {b['embed_batch']}, faiss + BM25, write and fsync the version); `raw` is "
        "`SentenceTransformer(model).encode(texts)` (its defaults: batch 32) of exactly the texts the index embeds — each "
        "chunk with its title/source/published header. Passes alternate so that load drift hits both; the ratio compares "
        "the best pass of each kind (other work on a shared machine only slows a pass down).",
        "",
        "| pass | chunks | wall s | chunks/s | CPU s | chunks per CPU s | load before | where the build's time went |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in b["passes"]:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in p["stages_s"].items() if k != "embedding_share")
        out.append(f"| {p['kind']} | {p['chunks']} | {p['wall_s']:.1f} | {p['chunks_per_s']:.1f} | {p['cpu_s']:.1f} | "
                   f"{p['chunks_per_cpu_s']:.2f} | {p['load_before']} | {stages or '—'} |")
    out += [
        "",
        f"Ratio build ÷ raw: **{b['ratio']:.2f}** on wall-clock throughput (best passes; {b['mean_ratio']:.2f} on the means), "
        f"{b['cpu_ratio']:.2f} on CPU-time throughput. "
        f"Index texts identical to the raw texts: {'yes' if b['same_texts'] else 'NO'}; smallest cosine between an indexed "
        f"vector and the raw encoding of the same text: {_fmt(b['min_cosine_index_vs_raw'], '.5f')}. "
        f"Model load (both copies): {b['model_load_s']:.1f} s, not counted in either rate.",
        "",
    ]
    return out


def _latency_section(results: dict, png_name: str | None) -> list[str]:
    rows = results.get("sweep", {}).get("rows", [])
    real = results.get("real", {})
    out = ["## Ask latency vs index size", ""]
    if "error" in results.get("sweep", {}):
        out += [f"Sweep failed: {results['sweep']['error']}", ""]
    out += [
        "Warm `Answerer.ask` (question checks, query embedding, faiss + BM25 retrieval and fusion, extractive answer "
        "composition; no LLM), one question at a time, each preceded by a separate timing of one query embedding "
        f"(`embed_query`) of the same question; {results['plan']['latency_questions']} distinct questions per size "
        "(MultiHop-RAG and seed dev question texts) after a few warm-up questions.",
        "",
        "**Synthetic indexes**: articles made of real sentences from the MultiHop-RAG subset and the seed article, recombined "
        "at random (with real titles and sources), chunked by the project's chunker and indexed by the real `Library.reindex`, "
        "except that **each chunk's vector is a random unit vector** instead of a MiniLM embedding (embedding 100k chunks would "
        "take hours here). The query path is the real one; scoring every chunk's vector costs the same whatever the vectors are. "
        "The `real` row is the index of the build phase (real embeddings).",
        "",
        "| index | chunks | ask p50 ms | ask p95 ms | query embedding p50 ms | p50 ÷ embedding | target | retrieve p50 | compose p50 | search without embedding p50 | dense scores p50 | BM25 scores p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    entries = ([("real", real)] if "ask_ms" in real else []) + [("synthetic", r["serve"]) for r in rows if "serve" in r]
    for label, s in entries:
        ratio = s["ask_ms"]["p50"] / s["embed_ms"]["p50"]
        limit = next((lim for size, lim in TARGET_LATENCY_RATIO.items() if size / 2 <= s["chunks"] <= size * 2), None)
        target = f"≤ {limit}× **{_verdict(ratio <= limit)}**" if limit and label == "synthetic" else "—"
        out.append(f"| {label} | {s['chunks']:,} | {s['ask_ms']['p50']:.1f} | {s['ask_ms']['p95']:.1f} | {s['embed_ms']['p50']:.1f} | "
                   f"{ratio:.2f}× | {target} | {_fmt(s['retrieve_ms']['p50'])} | {_fmt(s['compose_ms']['p50'])} | "
                   f"{_fmt(s['search_without_embedding_ms']['p50'], '.2f')} | {_fmt(s['dense_ms']['p50'], '.2f')} | {_fmt(s['bm25_ms']['p50'], '.2f')} |")
    if png_name:
        out += ["", f"![ask latency vs index size]({png_name})"]
    if rows:
        out += ["", "| synthetic index | articles | chunks | generate s | index build s (no embedding) | on disk | build peak RSS | load during serving |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            bld = r["build"]
            out.append(f"| ~{r['size']:,} | {bld['articles']:,} | {bld['chunks']:,} | {bld['generate_s']:.1f} | {bld['build_s']:.1f} | "
                       f"{bld['index_bytes'] / 2**20:.0f} MB | {_gb(bld['peak_rss'])} | {r['load']} |")
    return out + [""]


def _cold_section(results: dict) -> list[str]:
    rows = results.get("sweep", {}).get("rows", [])
    entries = ([("real", results["real"])] if "cold" in results.get("real", {}) else []) + [("synthetic", r["serve"]) for r in rows if "serve" in r]
    out = ["## Cold start and memory", "",
           "A fresh Python subprocess per index (so sizes don't share memory): interpreter start, imports, loading the persisted "
           "index, loading the model, answering the first question. Peak RSS is the serving process's high-water mark (VmHWM) after the "
           "cold start, the warm questions and the concurrent burst.", "",
           "| index | chunks | to first answer s | interpreter s | imports s | index load s | model load s | first ask s | RSS after first answer | peak RSS | target (100k) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, s in entries:
        c = s["cold"]
        at_100k = label == "synthetic" and 50_000 <= s["chunks"] <= 200_000
        target = f"≤ 1.5 GB **{_verdict(s['peak_rss'] <= TARGET_RSS_BYTES)}**" if at_100k else "—"
        out.append(f"| {label} | {s['chunks']:,} | {c['to_first_answer_s']:.1f} | {c['interpreter_s']:.2f} | {c['imports_s']:.1f} | "
                   f"{c['index_load_s']:.1f} | {c['model_load_s']:.1f} | {c['first_ask_s']:.2f} | {_gb(s['rss_after_first_answer'])} | {_gb(s['peak_rss'])} | {target} |")
    return out + [""]


def _noop_section(results: dict) -> list[str]:
    n = results.get("noop", {})
    out = ["## No-op re-index", ""]
    if "warm_s" not in n:
        return out + [f"Not measured: {n.get('error', 'skipped')}", ""]
    out += [
        f"{n['articles']:,} small synthetic articles ({n['chunks']:,} chunks) indexed once with random vectors through "
        f"`Library.reindex` ({n['initial_build_s']:.1f} s), then re-indexed unchanged: once by a fresh `Library` (as "
        "`negotiations-bot reindex` does in a new process: compare the corpus with the live version, find nothing to do) and "
        f"{len(n['warm_s'])} times by a library whose version is already loaded (as the running bot's re-index does).",
        "",
        "| run | seconds | target |",
        "|---|---|---|",
        f"| fresh `Library` (a new `negotiations-bot reindex` process) | {n['cold_s']:.2f} | ≤ 2 s **{_verdict(n['cold_s'] <= TARGET_NOOP_SECONDS)}** |",
    ]
    out += [f"| live library, run {i + 1} | {s:.2f} | ≤ 2 s **{_verdict(s <= TARGET_NOOP_SECONDS)}** |" for i, s in enumerate(n["warm_s"])]
    out += ["", f"Every re-index reported no change and embedded nothing: {'yes' if n['all_no_op'] else 'NO'} "
            f"(embedded chunks per run: {n['embedded_chunks']}); the live version stayed the same: {'yes' if n['same_version'] else 'NO'}.", ""]
    return out


def _loop_section(results: dict) -> list[str]:
    rows = results.get("sweep", {}).get("rows", [])
    entries = ([("real", results["real"])] if "loop" in results.get("real", {}) else []) + [("synthetic", r["serve"]) for r in rows if "serve" in r]
    out = ["## Event loop under concurrent questions", "",
           "In each serving subprocess: an asyncio loop with a monitor task that sleeps 10 ms and records how late it wakes, "
           "while all the questions go through `AnswerService.ask` at once (the bot's path: a thread pool off the loop). "
           "Idle max lag is the same monitor for 0.5 s before the burst (the machine's noise floor).", "",
           "| index | chunks | concurrent questions | answered | seconds | answers/s | max lag ms | p99 lag ms | idle max lag ms | target |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for label, s in entries:
        lp = s["loop"]
        out.append(f"| {label} | {s['chunks']:,} | {lp['questions']} | {lp['answered']} | {lp['seconds']:.2f} | {lp['answers_per_s']:.1f} | "
                   f"{lp['max_lag_ms']:.1f} | {_fmt(lp['p99_lag_ms'])} | {lp['idle_max_lag_ms']:.1f} | < 100 ms **{_verdict(lp['max_lag_ms'] < TARGET_LOOP_LAG_MS and not lp['errors'])}** |")
        if lp["errors"]:
            out.append(f"| | | errors: {'; '.join(lp['errors'])} | | | | | | | |")
    return out + [""]


def _store_section(results: dict) -> list[str]:
    out = ["## Vector store", "",
           "The chunk vectors live in a faiss `IndexFlatIP` (exact inner products of normalised MiniLM vectors), persisted "
           "as one binary file per index version in LlamaIndex's `FaissVectorStore` format; BM25 is bm25s's sparse matrix "
           "(LlamaIndex's `BM25Retriever` format). Retrieval scores every chunk (fusion scales each list over the whole "
           "corpus) with faiss's SIMD inner products over the flat array, so search stays exact at every size.", ""]
    c = results.get("stores", {})
    if "simple_bytes" in c:
        out += [f"The same {c['chunks']:,} vectors in LlamaIndex's default `SimpleVectorStore` (a JSON file) and in faiss, "
                "measured in this run (top-50 query of a random unit vector, p50 of 20):", "",
                "| store | file | load s | top-50 query ms |", "|---|---|---|---|",
                f"| `SimpleVectorStore` (JSON) | {c['simple_bytes'] / 2**20:.0f} MB | {c['simple_load_s']:.2f} | {c['simple_query_ms']:.1f} |",
                f"| faiss `IndexFlatIP` | {c['faiss_bytes'] / 2**20:.0f} MB | {c['faiss_load_s']:.2f} | {c['faiss_query_ms']:.2f} |",
                f"| faiss inner products of every vector (what fusion uses) | | | {c['faiss_scan_ms']:.2f} |", "",
                f"Both grow linearly with the chunk count: at 100k chunks the JSON store would be about "
                f"{c['simple_bytes'] / c['chunks'] * 100_000 / 2**30:.1f} GB to parse at every start "
                f"(~{c['simple_load_s'] / c['chunks'] * 100_000:.0f} s at this rate) — an estimate from this measurement, not a run.", ""]
    elif "error" in c:
        out += [f"Store comparison failed: {c['error']}", ""]
    rows = [r for r in results.get("sweep", {}).get("rows", []) if "serve" in r]
    if rows:
        out += ["| chunks | faiss top-50 search p50 ms | all-chunk inner products p50 ms | index version on disk |", "|---|---|---|---|"]
        out += [f"| {r['serve']['chunks']:,} | {_fmt(r['serve']['faiss_ms']['p50'], '.2f')} | {_fmt(r['serve']['dense_ms']['p50'], '.2f')} | "
                f"{r['build']['index_bytes'] / 2**20:.0f} MB |" for r in rows]
    return out + [""]


def _errors_section(results: dict) -> list[str]:
    errors = [(name, results[name]) for name in PHASES if "error" in results.get(name, {})]
    if not errors:
        return []
    out = ["## Errors", ""]
    for name, r in errors:
        out += [f"### {name}", "", "```", r.get("traceback", r["error"]).strip(), "```", ""]
    return out


# ---------------------------------------------------------------- entry points


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


def _child_main(mode: str) -> None:
    import logging

    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false"),
                        ("TQDM_DISABLE", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "error")):
        os.environ.setdefault(name, value)
    logging.basicConfig(level=logging.WARNING)
    payload = json.loads(sys.stdin.read())
    func = {"serve": child_serve, "synth-build": child_synth_build, "noop": child_noop, "store-compare": child_store_compare}[mode]
    print(RESULT_MARKER + json.dumps(func(payload)), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1])
