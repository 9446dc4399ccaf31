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

The package: ``plan`` (sizes, targets), ``inputs`` (corpora, questions, synthetic data),
``procs`` (subprocesses, memory, machine facts), ``workers`` (the subprocess workloads),
``build`` (the in-process build phase), ``report`` (Markdown, verdicts, plot), ``command``
(the run and ``run_bench_command``).
"""
