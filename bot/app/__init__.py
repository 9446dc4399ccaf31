"""The Discord application: everything that imports ``discord`` lives here.

- ``client``: the discord.py Bot (intents, start-up, shutdown) and ``run_bot``
- ``cogs/``: ``ask`` (/ask, @mentions, threads, streaming), ``feedback`` (👍/👎), ``admin``
- ``render``, ``admin_render``: answers and admin replies as embeds within Discord's limits
- ``markup``: what Discord adds to a typed question (mentions, markdown), removed
- ``pacing``: streamed answers shown at most once per interval
- ``permissions``, ``ratelimit``: who may run what, how often
- ``db``: the bot's state (answers, votes, rate limits, threads, admin log) in SQLite
"""
