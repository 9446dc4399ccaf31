"""The command line: ``ask``, ``reindex``, ``eval``, ``bench``, ``run`` (the Discord bot), and
``add-url`` and ``feeds`` (news from the web, in bot/tools/news_cli.py).

Everything except ``run`` works with no Discord at all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

# Light modules only up here: the environment below must be set before any ML library loads.
from bot.tools.exit_codes import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from bot.tools.news_cli import add_news_commands

# Quiet, offline model loading before any ML library is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # libraries' bars; ours sets disable=False

log = logging.getLogger("bot.tools.cli")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # not "root": logging.getLogger("root") is the root logger itself, and would hide every INFO line
    for noisy in ("httpx", "faiss.loader", "sentence_transformers", "bm25s", "urllib3", "discord.gateway"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# ---------------------------------------------------------------- output


def format_citation(citation, corpus_dir: Path) -> str:
    details = ", ".join(part for part in (citation.source, citation.published) if part)
    title = f"{citation.title} ({details})" if details else citation.title
    return f'[{citation.n}] "{citation.quote}" — {title} · {(corpus_dir / citation.doc).as_posix()}'


def format_answer(answer, corpus_dir: Path) -> str:
    lines = [answer.answer]
    if answer.fallback_reason:
        lines.append(f"(extractive answer; the generated one was not used: {answer.fallback_reason})")
    elif answer.backend != "extractive":
        lines.append(f"(written by the {answer.backend} backend; every sentence checked against its sources)")
    if answer.citations:
        lines.append("")
        lines += [format_citation(c, corpus_dir) for c in answer.citations]
    return "\n".join(lines)


def error_object(question: str, message: str) -> dict:
    return {
        "question": question,
        "answer": message,
        "refused": True,
        "citations": [],
        "error": message,
        "timings_ms": {},
    }


class ProgressBar:
    """Re-index progress on stderr: a tqdm bar per stage (articles, chunks) with its ETA."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            unit = {"chunking": "article", "embedding": "chunk"}.get(stage)
            if unit is None:
                return
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr, leave=False, disable=False)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.stage = None, None


# ---------------------------------------------------------------- commands


def _stdin_questions():
    """Lines of stdin; at a terminal, with a prompt (this is `make run` without a Discord token)."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("question> ")
        except EOFError:
            print(file=sys.stderr)
            return


def cmd_ask(args, settings) -> int:
    from bot.answering import QuestionError
    from bot.answering.factory import build_answerer
    from index.articles import CorpusError

    answerer = build_answerer(settings)
    questions = _stdin_questions() if args.question == ["-"] else [" ".join(args.question)]
    status = EXIT_OK
    try:
        answerer.library.warm()  # load (or on first use build) the index and the model before any question
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    catch_up(answerer.library, settings)
    if args.question == ["-"]:
        answerer.library.watch()  # a long session answers from what any process re-indexes meanwhile
    for raw in questions:
        question = raw.rstrip("\n") if args.question == ["-"] else raw
        if args.question == ["-"] and not question.strip():
            continue  # blank lines between questions
        try:
            answer = answerer.ask(question)
        except QuestionError as exc:
            status = EXIT_BAD_INPUT
            if args.json:
                print(json.dumps(error_object(question, str(exc)), ensure_ascii=False), flush=True)
            else:
                print(f"error: {exc}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        else:
            print(format_answer(answer, settings.corpus_dir), flush=True)
            if args.question == ["-"]:
                print()
    return status


def catch_up(library, settings) -> None:
    """Answer from the corpus asked about: when the corpus dir differs from the index in the data
    dir (articles added, changed or removed since, or an index built from another corpus), re-index
    what differs first, as the bot does at start-up. Problems are told on stderr; the index as it
    is still answers."""
    from index.articles import CorpusError
    from index.lock import IndexBusyError

    try:
        changes = library.pending_changes()
    except CorpusError as exc:
        print(f"warning: {exc}; answering from the index as it is", file=sys.stderr)
        return
    if changes is None:
        return
    counts = ", ".join(f"{n} {k}" for k, n in changes.counts().items())
    print(
        f"the corpus {settings.corpus_dir} differs from the index in {settings.data_dir} ({counts} "
        "articles): re-indexing what differs",
        file=sys.stderr,
    )
    try:
        print(library.reindex().summary(), file=sys.stderr)
    except (IndexBusyError, CorpusError) as exc:
        print(f"warning: {exc}; answering from the index as it is", file=sys.stderr)


def cmd_reindex(args, settings) -> int:
    from index.articles import CorpusError
    from index.library import Library
    from index.lock import IndexBusyError

    library = Library(settings.library_config())
    progress = ProgressBar(enabled=not args.json and sys.stderr.isatty())
    merged = None
    try:
        report = library.reindex(progress=progress)
        if args.merge:
            merged = library.merge_all()
        else:
            library.wait_for_merge()  # one the merge policy started: finish it before exiting
    except (IndexBusyError, CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        progress.close()
    if args.json:
        print(json.dumps(report.to_json() | ({"merged": merged} if args.merge else {}), ensure_ascii=False))
    else:
        print(report.summary())
        if args.merge:
            print(
                f"merged {merged} segments into one"
                if merged
                else "nothing to merge: one segment, nothing deleted"
            )
    return EXIT_OK


def cmd_eval(args, settings) -> int:
    from bot.tools.evaluation import eval_data_dir, format_table, run_eval
    from index.articles import CorpusError

    if not Path(args.questions).is_file():
        print(f"error: questions file {args.questions} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    progress = ProgressBar(enabled=sys.stderr.isatty())
    try:
        report = run_eval(
            settings,
            Path(args.questions),
            args.baseline,
            eval_data_dir(args, settings),
            args.limit,
            progress,
            with_tradeoff=not args.no_tradeoff,
        )
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"error: {args.questions}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        progress.close()
    report.pop("_rows", None)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_table(report))
    return EXIT_OK


def cmd_bench(args, settings) -> int:
    from bot.tools.bench.command import run_bench_command

    return run_bench_command(args, settings)


def cmd_run(args, settings) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(
            "error: DISCORD_TOKEN is not set. Copy .env.example to .env and put your bot token there,\n"
            'or ask from the console without Discord:  negotiations-bot ask "What did Putin agree to?"',
            file=sys.stderr,
        )
        return EXIT_FAILURE
    from bot.app.client import run_bot

    return run_bot(settings)


def _global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--corpus and --data, accepted before the command and after it. On the commands they
    default to "not given" (SUPPRESS), so they never overwrite a value given before the command."""
    default = None if defaults else argparse.SUPPRESS
    parser.add_argument(
        "--corpus", type=Path, default=default, help="article directory (default: CORPUS_DIR or seeds/)"
    )
    parser.add_argument(
        "--data", type=Path, default=default, help="index and database directory (default: DATA_DIR or data/)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="negotiations-bot",
        description="Answers questions about the Russia–Ukraine peace negotiations from news articles, with citations.",
    )
    _global_options(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser(
        "ask", help="answer a question from the console ('-' reads one question per line from stdin)"
    )
    ask.add_argument("question", nargs="+", help="the question, or - to read questions from stdin")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    _global_options(ask, defaults=False)
    ask.set_defaults(func=cmd_ask)

    reindex = sub.add_parser("reindex", help="bring the index up to date with the corpus directory")
    reindex.add_argument("--json", action="store_true", help="print the summary as JSON")
    reindex.add_argument(
        "--merge", action="store_true", help="then merge every index segment into one (docs/INDEX.md)"
    )
    _global_options(reindex, defaults=False)
    reindex.set_defaults(func=cmd_reindex)

    evaluate = sub.add_parser("eval", help="retrieval and answer metrics on a question set")
    evaluate.add_argument(
        "--questions", type=Path, required=True, help="questions .jsonl (seed dev or MultiHop-RAG format)"
    )
    evaluate.add_argument(
        "--baseline", choices=["dense", "bm25"], help="evaluate a baseline retriever instead"
    )
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--limit", type=int, help="only the first N questions")
    evaluate.add_argument(
        "--no-tradeoff",
        action="store_true",
        help="skip the trade-off table (every question asked again at other answer thresholds)",
    )
    _global_options(evaluate, defaults=False)
    evaluate.set_defaults(func=cmd_eval)

    bench = sub.add_parser("bench", help="speed and memory measurements; writes docs/BENCHMARKS.md")
    bench.add_argument(
        "--sizes", default="1000,10000,100000", help="index sizes in chunks for the latency sweep"
    )
    bench.add_argument("--output", type=Path, default=Path("docs/BENCHMARKS.md"))
    bench.add_argument("--quick", action="store_true", help="small sizes and few repetitions (a smoke run)")
    _global_options(bench, defaults=False)
    bench.set_defaults(func=cmd_bench)

    run = sub.add_parser("run", help="run the Discord bot (needs DISCORD_TOKEN)")
    _global_options(run, defaults=False)
    run.set_defaults(func=cmd_run)

    add_news_commands(sub, _global_options)
    return parser


def check_database(settings) -> None:
    """Connect to DATABASE_URL, check pgvector and apply the schema migrations (raises
    index.pg.DatabaseUnavailable with the reason)."""
    from index.library import open_storage

    open_storage(settings.library_config())


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from bot.settings import Settings, describe_error

    args = build_parser().parse_args(argv)
    overrides = {}
    if args.corpus:
        overrides["corpus_dir"] = args.corpus
    if args.data:
        overrides["data_dir"] = args.data
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # which setting is wrong and why, never the values (the token!)
        print(f"error: invalid settings:\n{describe_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # e.g. pydantic-settings cannot parse a value: name the kind, not the value
        print(f"error: invalid settings ({type(exc).__name__}; check .env.example)", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(settings.log_level if args.command == "run" else "WARNING")
    started = time.perf_counter()
    from index.pg import DatabaseUnavailable

    try:
        if settings.database:
            check_database(settings)  # one clear error now, not a stack trace later
        return args.func(args, settings)
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        log.debug("%s finished in %.1fs", args.command, time.perf_counter() - started)
