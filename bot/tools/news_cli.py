"""Console commands for news from the web: ``add-url`` and ``feeds add|list|remove|poll``.

``add-url`` fetches a page, saves its article under the corpus directory and re-indexes (only
that article is embedded). Feed subscriptions are kept in the bot's database (DATA_DIR), shared
with the running bot. Exit codes (bot/tools/exit_codes.py): 2 when the URL or feed cannot be used
(nothing is saved), 1 when the index or the database failed.

Only light modules are imported up here: cli.py imports this before the ML libraries' settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable

from bot.tools.exit_codes import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK

REINDEX_WAIT_S = 600.0  # how long add-url and feeds poll wait for a re-index running elsewhere


def add_news_commands(sub, global_options: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    """Register ``add-url`` and ``feeds`` on the CLI's subparsers (``global_options`` adds
    --corpus/--data to a command)."""
    add = sub.add_parser("add-url", help="fetch a news page, save its article under CORPUS_DIR and index it")
    add.add_argument("url", help="the page's http:// or https:// URL")
    add.add_argument("--json", action="store_true", help="print the result as one JSON object")
    global_options(add, False)
    add.set_defaults(func=cmd_add_url)

    feeds = sub.add_parser("feeds", help="RSS/Atom feed subscriptions (kept in the bot's database)")
    actions = feeds.add_subparsers(dest="feeds_command", required=True)
    for name, help_text, takes_url, has_json, func in (
        ("add", "subscribe to an RSS or Atom feed (checked by fetching it once)", True, True, cmd_feeds_add),
        ("list", "the subscribed feeds, their last poll and errors", False, True, cmd_feeds_list),
        ("remove", "unsubscribe (the articles already saved stay)", True, False, cmd_feeds_remove),
        ("poll", "fetch every feed once, add its new items and index them", False, True, cmd_feeds_poll),
    ):
        action = actions.add_parser(name, help=help_text)
        if takes_url:
            action.add_argument("url", help="the feed's URL")
        if has_json:
            action.add_argument("--json", action="store_true", help="print the result as JSON")
        global_options(action, False)
        action.set_defaults(func=func)


# ---------------------------------------------------------------- add-url


def cmd_add_url(args, settings) -> int:
    from bot.app.newsfeeds import run_reindex
    from index.web.errors import WebError
    from index.web.ingest import WebIngest

    async def run():
        async with WebIngest(settings.web_config(), settings.corpus_dir) as ingest:
            result = await ingest.add_url(args.url)
        return result, await run_reindex(_reindexer(settings), [result.doc])

    try:
        result, (index, index_error) = asyncio.run(run())
    except WebError as exc:
        return _bad_input(args, f"cannot add {args.url}: {exc}", {"status": "failed", "url": args.url})
    output = result.to_json() | {"index": index, "index_error": index_error}
    if args.json:
        _print_json(output)
    else:
        published = f", {result.published}" if result.published else ""
        print(f"{result.status}: “{result.title}” — {result.source}{published}")
        print(f"file: {(settings.corpus_dir / result.doc).as_posix()}")
        print(f"url: {result.url}")
        print(_index_text(index, index_error))
    return EXIT_OK if index_error is None else EXIT_FAILURE


# ---------------------------------------------------------------- feeds


def cmd_feeds_add(args, settings) -> int:
    from bot.app.newsfeeds import subscribe

    code, _ = _feed_command(
        args,
        settings,
        lambda db, ingest: subscribe(db, ingest, args.url),
        _subscribed_text,
        failure=f"cannot subscribe to {args.url}",
    )
    return code


def cmd_feeds_remove(args, settings) -> int:
    from bot.app.newsfeeds import unsubscribe

    code, _ = _feed_command(args, settings, lambda db, ingest: unsubscribe(db, args.url), _removed_text)
    return code


def cmd_feeds_list(args, settings) -> int:
    from bot.app.newsfeeds import list_feeds

    async def run(db, ingest):
        return {"feeds": await list_feeds(db)}

    code, _ = _feed_command(args, settings, run, _list_text)
    return code


def cmd_feeds_poll(args, settings) -> int:
    """Exit 0 when every feed and item could be read, 2 when some could not (bad input from the
    web: the rest is saved and indexed), 1 when the re-index failed."""
    from bot.app.newsfeeds import poll_all

    async def run(db, ingest):
        return (await poll_all(db, ingest, _reindexer(settings), "cli")).to_json()

    code, report = _feed_command(args, settings, run, _poll_text)
    if report is None:
        return code
    if report["index_error"]:
        return EXIT_FAILURE
    return EXIT_BAD_INPUT if report["failed"] else EXIT_OK


def _feed_command(args, settings, run, text, failure: str | None = None) -> tuple[int, object]:
    """Open the bot's database and an HTTP client, run ``run(db, ingest)``, print its result as
    JSON or through ``text``; (exit code, result or None). WebError → 2 (its message after
    ``failure``, if given), database problems → 1."""
    from bot.app.db import DatabaseError
    from bot.app.newsfeeds import FeedStoreError
    from bot.app.state import open_database
    from index.web.errors import WebError
    from index.web.ingest import WebIngest

    async def main():
        db = open_database(settings)
        await db.open()
        try:
            async with WebIngest(settings.web_config(), settings.corpus_dir) as ingest:
                return await run(db, ingest)
        finally:
            await db.close()

    try:
        output = asyncio.run(main())
    except WebError as exc:
        message = f"{failure}: {exc}" if failure else str(exc)
        return _bad_input(args, message, {"status": "failed", "url": getattr(args, "url", None)}), None
    except (FeedStoreError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE, None
    if getattr(args, "json", False):
        _print_json(output)
    else:
        print(text(output))
    return EXIT_OK, output


# ---------------------------------------------------------------- output


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def _bad_input(args, message: str, fields: dict) -> int:
    if getattr(args, "json", False):
        _print_json(fields | {"error": message})
    else:
        print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _index_text(index: dict | None, index_error: str | None) -> str:
    from bot.app.newsfeeds import index_line

    return index_line(index) if index is not None else f"not indexed yet: {index_error}"


def _subscribed_text(result: dict) -> str:
    if result["status"] == "exists":
        return f"already subscribed: {result['url']} (“{result['title']}”)"
    return (
        f"subscribed: “{result['title']}” ({result['url']}), {result['items']} item(s) now; "
        "`negotiations-bot feeds poll` (or the running bot) adds them"
    )


def _removed_text(result: dict) -> str:
    return (
        f"removed: {result['url']} (“{result['title']}”); its {result['items']} saved article(s) stay "
        "in the corpus"
    )


def _list_text(result: dict) -> str:
    feeds = result["feeds"]
    if not feeds:
        return "no feeds subscribed (add one with `negotiations-bot feeds add URL`)"
    lines = []
    for feed in feeds:
        polled = _when(feed["last_polled"]) if feed["last_polled"] else "never polled"
        line = f"{feed['url']} — “{feed['title']}”: {feed['items']} item(s) saved, {polled}"
        if feed["last_error"]:
            line += f"; last error: {feed['last_error']}"
        lines.append(line)
    return "\n".join(lines)


def _poll_text(report: dict) -> str:
    from bot.app.newsfeeds import PollReport

    if report["feeds"] == 0:
        return "no feeds subscribed (add one with `negotiations-bot feeds add URL`)"
    return PollReport(**report).summary()


def _when(timestamp: float) -> str:
    return "last polled " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def _reindexer(settings):
    """The library's re-index, in a thread, waiting for one running elsewhere to finish first."""
    from index.library import Library
    from index.lock import IndexBusyError

    library = Library(settings.library_config())

    def reindex(only=None):
        deadline = time.monotonic() + REINDEX_WAIT_S
        told = False
        while True:
            try:
                return library.reindex(only=only)
            except IndexBusyError:
                if time.monotonic() > deadline:
                    raise
                if not told:
                    print("waiting for the re-index running elsewhere to finish…", file=sys.stderr)
                    told = True
                time.sleep(1.0)

    return lambda only=None: asyncio.to_thread(reindex, only)
