"""End to end: the real bot process (``python -m bot run``) against the Discord stand-in over loopback.

The stand-in runs as its own process (tests/helpers/discord_standin/); the bot gets a fake token and
``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL`` pointing at it, a temporary copy of seeds/ and a temporary
data dir, and loads the real embedding model and builds the real index. Nothing of the bot is faked: the
tests only inject gateway events (slash commands, messages, button clicks) and look at what reached the
stand-in's REST API (helpers in e2e_support.py).

One bot process serves the whole module (start-up builds the index: ~20-40 s on 2 cores); each test uses its
own guild members because the rate limit is per user. The last tests check every message the bot sent and
stop the bot with SIGTERM. Run: ``.venv/bin/python -m pytest -m e2e tests/app/test_e2e.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.app.e2e_support import (
    ANSWER_TIMEOUT,
    DEADLINE,
    E2E,
    PROJECT,
    RATE_LIMIT,
    READY_TIMEOUT,
    TOKEN,
    _bot_env,
    _stop_bot,
    assert_cited_answer,
    visible_text,
)
from tests.helpers.discord_standin import StandInProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    corpus, data = tmp / "corpus", tmp / "data"
    shutil.copytree(PROJECT / "seeds", corpus)
    standin = StandInProcess(lifetime=900, token=TOKEN).start()
    ctx = E2E(standin, standin.client, standin.info["world"], tmp, _bot_env(standin, corpus, data))
    try:
        ctx.start_bot("bot.log")
        ctx.wait_identified()
        ctx.timings["identified_s"] = round(time.monotonic() - ctx.started, 1)
        # a question right away, while the index may still be loading: it must still be answered at once
        ctx.startup_probe = ctx.ask("dave", "What did Putin accept?")
        ctx.wait_callback(ctx.startup_probe["id"])
        ctx.wait_ready_to_answer("erin")
        ctx.timings["ready_s"] = round(time.monotonic() - ctx.started, 1)
        yield ctx
    finally:
        try:
            ctx.close()
        finally:
            standin.stop()
            print(
                f"\n[e2e] timings: {ctx.timings}\n[e2e] bot log tail:\n{ctx.log()[-2500:] if ctx.log_path else ''}",
                file=sys.stderr,
            )


# ---------------------------------------------------------------- start-up


def test_bot_logs_in_with_the_needed_intents_and_syncs_ask(e2e):
    state = e2e.client.state()
    ident = state["identifies"][0]
    assert ident["token_ok"]
    intents = ident["intents"]
    assert intents & 1, "GUILDS intent"
    assert intents & (1 << 9) and intents & (1 << 15), "mentions need GUILD_MESSAGES and MESSAGE_CONTENT"
    assert not intents & (1 << 1) and not intents & (1 << 8), "no members/presences intents"
    puts = e2e.requests("commands_put")
    assert len(puts) == 1
    assert puts[0]["path"] == f"/applications/{e2e.world['app_id']}/guilds/{e2e.world['guild_id']}/commands"
    ask = [c for c in puts[0]["json"] if c["name"] == "ask"]
    assert ask and ask[0]["options"][0]["name"] == "question" and ask[0]["options"][0]["type"] == 3
    assert [r["kind"] for r in e2e.requests()][:2] == ["login", "application_info"]
    assert e2e.timings["ready_s"] < READY_TIMEOUT


def test_question_during_startup_gets_a_prompt_response(e2e):
    probe = e2e.startup_probe
    cb = e2e.callbacks(probe["id"])[0]
    assert cb["status"] == 200 and cb["t"] - probe["t"] < DEADLINE
    if cb["json"]["type"] == 5:
        assert_cited_answer(e2e.wait_followups(probe["id"]))
    else:  # the index was still loading: an ephemeral "try again in a moment"
        assert cb["json"]["type"] == 4 and cb["json"]["data"]["flags"] & 64
        assert cb["json"]["data"]["content"].strip()


# ---------------------------------------------------------------- /ask


def test_ask_defers_at_once_then_answers_with_verbatim_citations(e2e):
    inter = e2e.ask("alice", "What did Putin accept?")
    cb = e2e.wait_callback(inter["id"])
    assert cb["json"]["type"] == 5, cb["json"]
    assert cb["status"] == 200
    e2e.timings["defer_s"] = round(cb["t"] - inter["t"], 3)
    assert cb["t"] - inter["t"] < DEADLINE
    sents = e2e.wait_followups(inter["id"])
    e2e.timings["answer_s"] = round(sents[-1]["t"] - inter["t"], 3)
    assert all(not s["flags"] & 64 for s in sents), "an answer is public"
    assert_cited_answer(sents, must_quote="Putin accepted a 30-day pause in energy infrastructure attacks")
    buttons = [c["custom_id"] for row in sents[-1]["components"] for c in row["components"]]
    assert len(buttons) == 2, buttons
    assert len(e2e.callbacks(inter["id"])) == 1


def test_feedback_button_click_is_acknowledged(e2e):
    inter = e2e.ask("alice", "How long did the call between Trump and Putin last?")
    e2e.wait_callback(inter["id"])
    sents = e2e.wait_followups(inter["id"])
    last = sents[-1]
    up = next(c["custom_id"] for row in last["components"] for c in row["components"])
    click = e2e.client.component(up, last["message_id"], user_id=e2e.user("bob"))
    cb = e2e.wait_callback(click["id"])
    assert cb["status"] == 200 and cb["t"] - click["t"] < DEADLINE
    reply = cb["json"]
    assert reply["type"] in (4, 6, 7)
    if reply["type"] == 4:
        assert reply["data"]["flags"] & 64 and reply["data"]["content"]


def test_mentions_in_the_question_ping_nobody(e2e):
    question = (
        f"What did Putin accept? @everyone @here <@{e2e.user('alice')}> <@!{e2e.user('carol')}> "
        f"<@&{e2e.world['moderators_role_id']}> XYZZY42"
    )
    inter = e2e.ask("bob", question)
    assert e2e.wait_callback(inter["id"])["json"]["type"] == 5
    sents = e2e.wait_followups(inter["id"])
    for sent in sents:
        assert sent["allowed_mentions"] == {"parse": []} or (
            sent["allowed_mentions"]["parse"] == []
            and not sent["allowed_mentions"].get("users")
            and not sent["allowed_mentions"].get("roles")
            and not sent["allowed_mentions"].get("replied_user")
        )
        assert sent["pings"] == []
        # second guard: the question echoed in the answer cannot even look like a mention
        text = visible_text(sent)
        assert not re.search(r"<@[!&]?\d+>", text), text
        assert not re.search(r"@(everyone|here)", text), text


def test_rate_limited_user_gets_an_ephemeral_notice_without_defer(e2e):
    for i in range(RATE_LIMIT):
        inter = e2e.ask("frank", f"Where will the talks begin? ({i})")
        assert e2e.wait_callback(inter["id"])["json"]["type"] == 5
        e2e.wait_followups(inter["id"])
    limited = e2e.ask("frank", "What did Putin accept?")
    cb = e2e.wait_callback(limited["id"])
    assert cb["status"] == 200 and cb["t"] - limited["t"] < DEADLINE
    assert cb["json"]["type"] == 4, "rate limit must be answered directly, not deferred"
    data = cb["json"]["data"]
    assert data["flags"] & 64, "the notice must be ephemeral"
    assert "try again" in data["content"].lower()
    assert re.search(r"\d", data["content"]), "says when to try again"
    time.sleep(0.5)
    assert len(e2e.callbacks(limited["id"])) == 1 and not [
        s for s in e2e.sent_for(limited["id"]) if s["kind"] == "followup"
    ]
    # others are still served
    other = e2e.ask("judy", "What did Putin accept?")
    assert e2e.wait_callback(other["id"])["json"]["type"] == 5
    assert_cited_answer(e2e.wait_followups(other["id"]))


BAD_QUESTIONS = {
    "10k_chars": ("What did Putin accept? " * 500)[:10_000],
    "emoji_only": "🤔🕊️🇺🇦🇷🇺❓",
    "zero_width_only": "\u200b\u200c\u200d\u2060",
}


@pytest.mark.parametrize("kind", list(BAD_QUESTIONS))
def test_bad_question_gets_a_clear_ephemeral_message(e2e, kind):
    inter = e2e.ask("grace", BAD_QUESTIONS[kind])
    cb = e2e.wait_callback(inter["id"])
    assert cb["status"] == 200 and cb["t"] - inter["t"] < DEADLINE
    assert cb["json"]["type"] == 4, f"{kind}: expected an immediate notice, got {cb['json']}"
    data = cb["json"]["data"]
    assert data["flags"] & 64
    content = data["content"]
    assert 10 < len(content) <= 2000
    if kind == "10k_chars":
        assert "500" in content and ("long" in content.lower() or "limit" in content.lower()), content


def test_markdown_and_code_block_breakers_get_a_clean_reply(e2e):
    question = (
        "```\n**What** did `Putin` ~~accept~~?``` ||@everyone|| [click](https://example.com) > > # heading"
    )
    inter = e2e.ask("heidi", question)
    cb = e2e.wait_callback(inter["id"])
    assert cb["status"] == 200 and cb["t"] - inter["t"] < DEADLINE
    if cb["json"]["type"] == 4:  # refused as a question: a clear notice
        assert cb["json"]["data"]["flags"] & 64 and len(cb["json"]["data"]["content"]) > 10
        return
    sents = e2e.wait_followups(inter["id"])
    assert sents and all(s["pings"] == [] for s in sents)
    for sent in sents:
        for embed in sent["embeds"]:
            for text in [embed.get("description") or ""] + [f["value"] for f in embed.get("fields") or []]:
                assert not re.search(r"(?<!\\)```", text), (
                    f"an unescaped code fence reaches a rendered field: {text!r}"
                )
                assert not re.search(r"(?<!\\)\[click\]\(", text), text


# ---------------------------------------------------------------- @mentions, threads, replies


def test_mention_is_answered_in_a_thread_and_follow_ups_are_understood(e2e):
    before = max([s["seq"] for s in e2e.client.sent()] or [0])
    msg = e2e.client.message("What did Putin accept? @everyone", user_id=e2e.user("carol"), mention_bot=True)
    assert msg["_delivered"] == 1

    def answered():
        threads = [
            r for r in e2e.requests("thread_create") if r["path"].endswith(f"/messages/{msg['id']}/threads")
        ]
        if threads and threads[0]["status"] == 201:
            channel = threads[0]["response"]["id"]
            sents = e2e.bot_messages_in(channel, before)
        else:  # answered in the channel, as a reply
            sents = [
                s
                for s in e2e.bot_messages_in(e2e.world["general_id"], before)
                if (s["reference"] or {}).get("message_id") == msg["id"]
            ]
        return sents if sents and sents[-1]["components"] else None

    sents = e2e.client.wait_for(answered, ANSWER_TIMEOUT, interval=0.25, what="an answer to the mention")
    e2e.timings["mention_answer_s"] = round(sents[-1]["t"] - msg["_t"], 3)
    assert_cited_answer(sents, must_quote="30-day pause")
    assert all(s["pings"] == [] for s in sents)
    thread_id = sents[0]["channel_id"]
    if thread_id == e2e.world["general_id"]:
        pytest.skip("the bot answered in the channel (no thread): no thread follow-up to test")

    # a follow-up in the bot's thread, without a mention, is answered in context
    before = max(s["seq"] for s in e2e.client.sent())
    follow = e2e.client.message(
        "and what about the Black Sea?", user_id=e2e.user("carol"), channel_id=thread_id
    )
    assert follow["_delivered"] == 1
    sents = e2e.client.wait_for(
        lambda: (lambda s: s if s and s[-1]["components"] else None)(e2e.bot_messages_in(thread_id, before)),
        ANSWER_TIMEOUT,
        interval=0.25,
        what="an answer to the thread follow-up",
    )
    assert_cited_answer(sents, must_quote="Black Sea")


def test_reply_to_an_answer_is_answered(e2e):
    inter = e2e.ask("ivan", "Where will the talks begin?")
    e2e.wait_callback(inter["id"])
    answer = e2e.wait_followups(inter["id"])[0]
    before = max(s["seq"] for s in e2e.client.sent())
    reply = e2e.client.message(
        "and what did Putin accept?", user_id=e2e.user("mallory"), reply_to=answer["message_id"]
    )

    def answered():
        thread = [
            r
            for r in e2e.requests("thread_create")
            if r["path"].endswith(f"/messages/{reply['id']}/threads") and r["status"] == 201
        ]
        channel = thread[0]["response"]["id"] if thread else e2e.world["general_id"]
        sents = e2e.bot_messages_in(channel, before)
        return sents if sents and sents[-1]["components"] else None

    sents = e2e.client.wait_for(answered, ANSWER_TIMEOUT, interval=0.25, what="an answer to the reply")
    assert_cited_answer(sents)
    assert all(s["pings"] == [] for s in sents), "a reply must not ping the asker"


def test_over_long_mention_gets_a_reply_notice_that_pings_nobody(e2e):
    before = max(s["seq"] for s in e2e.client.sent())
    msg = e2e.client.message("What did Putin accept? " * 80, user_id=e2e.user("bob"), mention_bot=True)
    notice = e2e.client.wait_for(
        lambda: [
            s
            for s in e2e.client.sent()
            if s["seq"] > before and (s["reference"] or {}).get("message_id") == msg["id"]
        ],
        30,
        what="a notice replying to the over-long mention",
    )[0]
    assert "500" in notice["content"]
    assert notice["pings"] == []
    assert not [r for r in e2e.requests("thread_create") if f"/messages/{msg['id']}/" in r["path"]]


def test_concurrent_questions_are_all_deferred_in_time_and_answered(e2e):
    questions = {
        "bob": "Where will the talks begin?",
        "grace": "What did Putin accept?",
        "heidi": "How long did the call between Trump and Putin last?",
        "dave": "What did the White House confirm?",
        "carol": "Who called the call a historic moment?",
    }
    inters = {user: e2e.ask(user, q) for user, q in questions.items()}  # injected back to back
    for user, inter in inters.items():
        cb = e2e.wait_callback(inter["id"])
        assert cb["json"]["type"] == 5, (user, cb["json"])
        assert cb["status"] == 200 and cb["t"] - inter["t"] < DEADLINE, (
            f"{user}: deferred after {cb['t'] - inter['t']:.2f}s"
        )
    slowest = 0.0
    for user, inter in inters.items():
        sents = e2e.wait_followups(inter["id"])
        assert sents[0]["embeds"], user
        slowest = max(slowest, sents[-1]["t"] - inter["t"])
    e2e.timings["5_concurrent_answers_s"] = round(slowest, 2)


# ---------------------------------------------------------------- everything, then shutdown


def test_every_message_the_bot_sent_pings_nobody_and_was_accepted(e2e):
    sent = e2e.client.sent()
    assert len(sent) >= 10
    for s in sent:
        assert s["has_allowed_mentions"], f"{s['kind']} without allowed_mentions: {s['content']!r}"
        am = s["allowed_mentions"]
        assert (
            am.get("parse") == []
            and not am.get("users")
            and not am.get("roles")
            and not am.get("replied_user")
        ), am
        assert s["pings"] == [], s
    # deferred/ephemeral callbacks have no allowed_mentions to check, but none may carry content that pings
    for r in e2e.requests("interaction_callback"):
        data = (r["json"] or {}).get("data") or {}
        if data.get("content"):
            assert data.get("allowed_mentions", {}).get("parse") == [], r["json"]
    bad = [(r["method"], r["path"], r["status"], r["response"]) for r in e2e.requests() if r["status"] >= 400]
    assert not bad, f"the stand-in rejected requests (Discord would too): {bad}"
    assert not e2e.requests("unhandled")


def test_log_has_one_line_per_question_without_token_or_content(e2e):
    log = e2e.log()
    assert TOKEN not in log
    assert "XYZZY42" not in log, "question text must not be logged at INFO"
    assert len(re.findall(r"outcome=\w+", log)) >= 10
    assert "latency" in log


def test_sigterm_finishes_the_answers_in_flight_and_exits_cleanly(e2e):
    # several questions at once, SIGTERM as soon as the first is deferred: some answers are surely in flight
    users = ["ivan", "judy", "grace", "erin", "alice"]
    inters = {
        u: e2e.ask(u, "What did Putin accept?" if i % 2 else "Where will the talks begin?")
        for i, u in enumerate(users)
    }
    e2e.client.wait_for(
        lambda: any(e2e.callbacks(i["id"]) for i in inters.values()), 10, interval=0.02, what="a first defer"
    )
    started = time.monotonic()
    os.kill(e2e.bot.pid, signal.SIGTERM)
    try:
        code = e2e.bot.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("the bot did not exit within 60 s of SIGTERM")
    e2e.timings["sigterm_exit_s"] = round(time.monotonic() - started, 3)
    assert code == 0, e2e.log()[-2000:]
    assert e2e.client.state()["ready_sessions"] == 0
    closes = [g for g in e2e.client.gateway_log() if g["what"] == "disconnect"]
    # the client closed the gateway itself (discord.py 2.7 + aiohttp 3.14 send 4000 from Client.close(); a
    # process that just dies leaves 1006/None)
    assert closes and closes[-1]["close_code"] in (1000, 1001, 4000), closes
    after = e2e.log().split("SIGTERM", 1)[-1]
    deferred = 0
    for user, inter in inters.items():
        callbacks = e2e.callbacks(inter["id"])
        if not callbacks:
            continue  # arrived after the bot stopped reading the gateway: Discord shows "did not respond"
        if callbacks[0]["json"]["type"] == 4:  # "I'm restarting, ask again": fine while shutting down
            assert callbacks[0]["json"]["data"]["flags"] & 64
            continue
        deferred += 1
        followups = [s for s in e2e.sent_for(inter["id"]) if s["kind"] == "followup"]
        assert followups, (
            f"{user}: the answer in flight at SIGTERM was never sent; the bot must finish sending "
            f"answers before it closes its HTTP session. Bot log after SIGTERM:\n{after[-1500:]}"
        )
        assert_cited_answer(followups)
    assert deferred >= 1
    assert "Traceback" not in after, after[-2000:]
    # the bot's own last line: close() ran to the end (database and answer threads closed), not cut short
    # by asyncio.run() cancelling it once ``async with bot`` returned
    assert re.search(r"INFO bot\.app\.client: shut down\s*$", after.strip() + "\n", re.M), after[-1500:]


def test_restart_keeps_feedback_buttons_working_and_does_not_resync(e2e):
    if e2e.bot.poll() is None:
        pytest.skip("needs the previous test to have stopped the bot")
    first_answer = next(s for s in e2e.client.sent() if s["kind"] == "followup" and s["components"])
    puts_before = len(e2e.requests("commands_put"))
    identifies_before = len(e2e.client.state()["identifies"])
    e2e.start_bot("bot-restart.log")
    e2e.wait_identified(identifies_before)
    e2e.timings["restart_identified_s"] = round(time.monotonic() - e2e.started, 1)
    # a button under an answer sent before the restart still works (persistent view, stored answer)
    down = [c["custom_id"] for row in first_answer["components"] for c in row["components"]][1]
    click = e2e.client.component(down, first_answer["message_id"], user_id=e2e.user("judy"))
    cb = e2e.wait_callback(click["id"])
    assert cb["status"] == 200 and cb["t"] - click["t"] < DEADLINE
    assert cb["json"]["type"] in (4, 6, 7)
    if cb["json"]["type"] == 4:
        assert cb["json"]["data"]["flags"] & 64
        assert (
            "no longer" not in cb["json"]["data"]["content"]
            and "couldn't" not in cb["json"]["data"]["content"]
        )
    e2e.wait_ready_to_answer("mallory")
    e2e.timings["restart_ready_s"] = round(time.monotonic() - e2e.started, 1)
    assert len(e2e.requests("commands_put")) == puts_before, (
        "unchanged commands must not be re-synced on restart"
    )
    # the rate limit state survived the restart: frank is still limited
    limited = e2e.ask("frank", "What did Putin accept?")
    cb = e2e.wait_callback(limited["id"])
    assert (
        cb["json"]["type"] == 4
        and cb["json"]["data"]["flags"] & 64
        and "try again" in cb["json"]["data"]["content"].lower()
    )
    assert _stop_bot(e2e.bot) == 0
