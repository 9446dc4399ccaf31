"""A small Discord-compatible stand-in server for tests: REST under ``/api/v10`` and a gateway websocket.

It speaks enough of Discord's API for discord.py 2.x to log in, connect, sync application commands and
answer interactions and messages, and it behaves like Discord where a bot can get things wrong:

* the gateway: HELLO → IDENTIFY → READY (session, application, one unavailable guild) → GUILD_CREATE (roles,
  channels, members); heartbeats are ACKed and timestamped; ``compress=zlib-stream`` is honoured; events are
  filtered by the identified intents and message content is stripped without the MESSAGE_CONTENT intent
  (except messages that mention the bot), like Discord does;
* interaction callbacks must arrive within 3 seconds (else 404 *Unknown interaction*) and only once (else
  400 *already acknowledged*); a follow-up after a deferred response replaces the "thinking" message;
* messages are checked against Discord's limits (content 2000, embeds 10 / title 256 / description 4096 /
  field 25 × 256 / 1024 / footer 2048 / 6000 in total, components 5 × 5, custom_id 100, label 80, thread
  name 100) and rejected with Discord's ``50035 Invalid Form Body`` / ``50006 empty message`` errors;
* the bot's own channel messages come back as MESSAGE_CREATE, thread creation dispatches THREAD_CREATE.

Everything received is recorded (method, path, query, JSON body — ``payload_json`` for multipart — and the
response status) in :attr:`DiscordStandIn.requests`; every message the bot created or edited is in
:attr:`DiscordStandIn.sent`, with the mentions Discord *would ping* given its content and ``allowed_mentions``
(:func:`would_ping`).

Two ways to run it:

* in-process: ``async with DiscordStandIn() as standin:`` then :meth:`DiscordStandIn.patch_discord_py` (or the
  bot's ``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL`` settings) and inject events with
  :meth:`~DiscordStandIn.inject_slash_command`, :meth:`~DiscordStandIn.inject_message`, ...;
* as a process: ``python -m tests.helpers.discord_standin --lifetime 600`` prints one JSON line (pid, port,
  api_base, gateway_url, control) and is driven over its control API under ``/_standin/`` —
  :class:`StandInProcess` / :class:`StandInClient` do that from synchronous tests.

It listens on 127.0.0.1 only, on a free port, and always stops by itself after ``lifetime`` seconds.

The package, by concern: ``models`` (constants, :class:`World`, :class:`Recorded`, :class:`Sent`), ``limits``
(:func:`would_ping`, :func:`validate_message_body`), ``server`` (:class:`DiscordStandIn`, with its mixins
``guild``, ``gateway``, ``events``, ``rest`` and ``messages``), ``process`` (:class:`StandInProcess`,
:class:`StandInClient`) and ``cli`` (what ``python -m tests.helpers.discord_standin`` runs).
"""

from __future__ import annotations

from tests.helpers.discord_standin.cli import main
from tests.helpers.discord_standin.limits import FormErrors, validate_message_body, would_ping
from tests.helpers.discord_standin.models import (
    API_PREFIX,
    CONTROL_PREFIX,
    DEFAULT_TOKEN,
    DISCORD_EPOCH_MS,
    EVERYONE_PERMISSIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    INTERACTION_DEADLINE,
    MESSAGE_FLAG_COMPONENTS_V2,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    PRIVILEGED_INTENTS,
    Recorded,
    Sent,
    Snowflakes,
    World,
    now_iso,
)
from tests.helpers.discord_standin.process import StandInClient, StandInProcess
from tests.helpers.discord_standin.server import DiscordStandIn

__all__ = [
    "API_PREFIX",
    "CONTROL_PREFIX",
    "DEFAULT_TOKEN",
    "DISCORD_EPOCH_MS",
    "EVERYONE_PERMISSIONS",
    "INTENT_DIRECT_MESSAGES",
    "INTENT_GUILDS",
    "INTENT_GUILD_MEMBERS",
    "INTENT_GUILD_MESSAGES",
    "INTENT_GUILD_MESSAGE_REACTIONS",
    "INTENT_GUILD_PRESENCES",
    "INTENT_MESSAGE_CONTENT",
    "INTERACTION_DEADLINE",
    "MESSAGE_FLAG_COMPONENTS_V2",
    "MESSAGE_FLAG_EPHEMERAL",
    "MESSAGE_FLAG_LOADING",
    "PRIVILEGED_INTENTS",
    "DiscordStandIn",
    "FormErrors",
    "Recorded",
    "Sent",
    "Snowflakes",
    "StandInClient",
    "StandInProcess",
    "World",
    "main",
    "now_iso",
    "validate_message_body",
    "would_ping",
]
