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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
CONTROL_PREFIX = "/_standin"
DISCORD_EPOCH_MS = 1420070400000
DEFAULT_TOKEN = "standin.bot.token"  # any token is accepted unless DiscordStandIn(token=...) asks for one
INTERACTION_DEADLINE = 3.0  # seconds Discord gives a bot for the initial interaction response

# gateway opcodes
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_RESUME, OP_REQUEST_MEMBERS = 0, 1, 2, 3, 6, 8
OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 9, 10, 11

# gateway intents
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# permissions
P_ADD_REACTIONS = 1 << 6
P_VIEW_CHANNEL = 1 << 10
P_SEND_MESSAGES = 1 << 11
P_MANAGE_MESSAGES = 1 << 13
P_EMBED_LINKS = 1 << 14
P_ATTACH_FILES = 1 << 15
P_READ_HISTORY = 1 << 16
P_MENTION_EVERYONE = 1 << 17
P_USE_APP_COMMANDS = 1 << 31
P_CREATE_PUBLIC_THREADS = 1 << 35
P_SEND_IN_THREADS = 1 << 38
P_ADMINISTRATOR = 1 << 3
P_MANAGE_GUILD = 1 << 5
P_ALL = (1 << 50) - 1
EVERYONE_PERMISSIONS = (
    P_ADD_REACTIONS
    | P_VIEW_CHANNEL
    | P_SEND_MESSAGES
    | P_EMBED_LINKS
    | P_ATTACH_FILES
    | P_READ_HISTORY
    | P_USE_APP_COMMANDS
    | P_CREATE_PUBLIC_THREADS
    | P_SEND_IN_THREADS
)

MESSAGE_FLAG_EPHEMERAL = 64
MESSAGE_FLAG_LOADING = 128
MESSAGE_FLAG_COMPONENTS_V2 = 1 << 15


# ---------------------------------------------------------------- helpers


def now_iso(offset_seconds: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat()


class Snowflakes:
    """Increasing Discord-style ids (timestamp << 22 | counter)."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def __call__(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = max((ms << 22) | (next(self._counter) & 0xFFF), self._last + 1)
        self._last = value
        return str(value)


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def would_ping(
    content: str | None,
    allowed_mentions: dict | None,
    *,
    replied_user_id: str | None = None,
) -> list[str]:
    """Who Discord would notify for a message with this content and ``allowed_mentions``.

    Discord's rules: with no ``allowed_mentions`` every user, role, @everyone/@here mention in the content
    pings and a reply pings the replied-to author; with ``allowed_mentions`` only what ``parse`` lists (or
    the explicit ``users`` / ``roles`` ids) pings, and a reply pings only with ``replied_user: true``.
    Embeds never ping. Returns e.g. ``["user:123", "role:9", "everyone", "replied_user:42"]``.
    """
    text = content or ""
    if allowed_mentions is None:
        parse, users, roles, replied = {"users", "roles", "everyone"}, set(), set(), True
    else:
        parse = set(allowed_mentions.get("parse") or [])
        users = {str(u) for u in allowed_mentions.get("users") or []}
        roles = {str(r) for r in allowed_mentions.get("roles") or []}
        replied = bool(allowed_mentions.get("replied_user", False))
    pings: list[str] = []
    for uid in dict.fromkeys(_USER_MENTION.findall(text)):
        if "users" in parse or uid in users:
            pings.append(f"user:{uid}")
    for rid in dict.fromkeys(_ROLE_MENTION.findall(text)):
        if "roles" in parse or rid in roles:
            pings.append(f"role:{rid}")
    if ("@everyone" in text or "@here" in text) and "everyone" in parse:
        pings.append("everyone")
    if replied_user_id is not None and replied:
        pings.append(f"replied_user:{replied_user_id}")
    return pings


class FormErrors:
    """Collects Discord "Invalid Form Body" errors as the nested ``errors`` object Discord returns."""

    def __init__(self) -> None:
        self.errors: dict = {}
        self.flat: list[str] = []

    def add(self, path: str, code: str, message: str) -> None:
        node = self.errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
        self.flat.append(f"{path}: {message}")

    def max_len(self, path: str, value: Any, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def __bool__(self) -> bool:
        return bool(self.flat)


def validate_message_body(body: dict, *, partial: bool = False, has_files: bool = False) -> FormErrors:
    """Discord's checks on a message create/edit body (content, embeds, components)."""
    errors = FormErrors()
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errors.add("content", "STRING_TYPE_CONVERT", "Could not interpret value as string.")
        content = None
    errors.max_len("content", content, 2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors.add("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        p = f"embeds.{i}"
        title, description = embed.get("title"), embed.get("description")
        errors.max_len(f"{p}.title", title, 256)
        errors.max_len(f"{p}.description", description, 4096)
        total += len(title or "") + len(description or "")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add(f"{p}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            name, value = fld.get("name"), fld.get("value")
            for key, val, limit in (("name", name, 256), ("value", value, 1024)):
                if not isinstance(val, str) or not val.strip():
                    errors.add(f"{p}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
                errors.max_len(f"{p}.fields.{j}.{key}", val, limit)
            total += len(name or "") + len(value or "")
        footer = (embed.get("footer") or {}).get("text")
        errors.max_len(f"{p}.footer.text", footer, 2048)
        author = (embed.get("author") or {}).get("name")
        errors.max_len(f"{p}.author.name", author, 256)
        total += len(footer or "") + len(author or "")
    if total > 6000:
        errors.add("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    components = body.get("components") or []
    flags = int(body.get("flags") or 0)
    if not flags & MESSAGE_FLAG_COMPONENTS_V2:
        if len(components) > 5:
            errors.add("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        seen: set[str] = set()
        for i, row in enumerate(components):
            children = row.get("components") or []
            if row.get("type") != 1:
                errors.add(
                    f"components.{i}.type", "UNION_TYPE_CHOICES", "Top-level components must be action rows"
                )
            if len(children) > 5:
                errors.add(
                    f"components.{i}.components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
                )
            for j, comp in enumerate(children):
                cp = f"components.{i}.components.{j}"
                custom_id = comp.get("custom_id")
                errors.max_len(f"{cp}.custom_id", custom_id, 100)
                errors.max_len(f"{cp}.label", comp.get("label"), 80)
                if custom_id is not None:
                    if custom_id in seen:
                        errors.add(
                            f"{cp}.custom_id",
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    seen.add(custom_id)
                elif comp.get("type") == 2 and comp.get("style") != 5 and comp.get("style") != 6:
                    errors.add(f"{cp}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
    if not partial and not errors:
        empty = not (content or "").strip() and not embeds and not components and not has_files
        if empty and not body.get("sticker_ids") and not body.get("poll"):
            errors.add("content", "EMPTY", "Cannot send an empty message")
    return errors


# ---------------------------------------------------------------- the fake guild


@dataclass
class World:
    """Fixed ids of the stand-in's application, guild, channels, roles and users (strings, like Discord)."""

    app_id: str = "1300000000000000001"
    bot_id: str = "1300000000000000001"  # a bot's user id is its application id
    bot_name: str = "NegotiationsBot"
    guild_id: str = "1300000000000000100"
    general_id: str = "1300000000000000101"
    questions_id: str = "1300000000000000102"
    quiet_id: str = "1300000000000000103"  # a text channel the bot cannot send in
    moderators_role_id: str = "1300000000000000110"
    alice_id: str = "1300000000000000201"
    bob_id: str = "1300000000000000202"
    carol_id: str = "1300000000000000203"  # owner, moderator
    owner_id: str = "1300000000000000203"
    # more plain members, so tests can give each scenario its own user (rate limits are per user)
    extra_users: tuple[str, ...] = ("dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory")

    def user_id(self, name: str) -> str:
        """The id of a member by name: alice, bob, carol or one of ``extra_users``."""
        fixed = {"alice": self.alice_id, "bob": self.bob_id, "carol": self.carol_id}
        if name in fixed:
            return fixed[name]
        return str(1300000000000000210 + self.extra_users.index(name))

    def to_json(self) -> dict:
        names = ["alice", "bob", "carol", *self.extra_users]
        return asdict(self) | {
            "everyone_role_id": self.everyone_role_id,
            "users": {n: self.user_id(n) for n in names},
        }

    @property
    def everyone_role_id(self) -> str:
        return self.guild_id

    @property
    def user_ids(self) -> list[str]:
        return [self.alice_id, self.bob_id, self.carol_id, *(self.user_id(n) for n in self.extra_users)]


@dataclass
class Recorded:
    """One HTTP request the stand-in received."""

    seq: int
    t: float  # time.monotonic() in the stand-in's process
    method: str
    path: str  # without the /api/v10 prefix
    query: dict
    json: Any
    files: list
    status: int = 0
    response: Any = None
    kind: str = (
        "unhandled"  # e.g. interaction_callback, followup, message_create, thread_create, commands_put
    )
    authorized: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sent:
    """One message the bot created or edited (through any route)."""

    seq: int  # the Recorded.seq of the request
    t: float
    kind: str  # callback, followup, edit_original, edit_followup, channel_message, channel_edit
    message_id: str
    channel_id: str
    content: str | None
    embeds: list
    components: list
    flags: int
    allowed_mentions: dict | None
    has_allowed_mentions: bool
    pings: list[str]
    interaction_id: str | None = None
    reference: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MESSAGE_FLAG_EPHEMERAL)

    def text(self) -> str:
        """Content plus every embed's visible text (title, description, fields, footer, author)."""
        parts = [self.content or ""]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            for fld in embed.get("fields") or []:
                parts += [fld.get("name") or "", fld.get("value") or ""]
            parts += [
                (embed.get("footer") or {}).get("text") or "",
                (embed.get("author") or {}).get("name") or "",
            ]
        return "\n".join(p for p in parts if p)


class _Session:
    def __init__(self, ws: web.WebSocketResponse, zlib_stream: bool):
        self.ws = ws
        self.zlib = zlib.compressobj() if zlib_stream else None
        self.identified = False
        self.intents = 0
        self.seq = 0
        self.session_id: str | None = None
        self.lock = asyncio.Lock()


# ---------------------------------------------------------------- the server


class DiscordStandIn:
    """The stand-in server. Use as ``async with DiscordStandIn() as standin:``."""

    def __init__(
        self,
        *,
        token: str | None = None,
        lifetime: float = 600.0,
        heartbeat_interval_ms: int = 5000,
        interaction_deadline: float = INTERACTION_DEADLINE,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        echo_own_messages: bool = True,
        world: World | None = None,
    ) -> None:
        self.expected_token = token
        self.lifetime = lifetime
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_deadline = interaction_deadline
        self.allowed_privileged_intents = allowed_privileged_intents
        self.echo_own_messages = echo_own_messages
        self.world = world or World()
        self.ids = Snowflakes()

        self.port = 0
        self.requests: list[Recorded] = []
        self.sent: list[Sent] = []
        self.gateway_log: list[
            dict
        ] = []  # {t, op, event, ...} for everything the client sent and key dispatches
        self.heartbeats: list[float] = []
        self.identifies: list[dict] = []  # IDENTIFY payloads (token replaced by whether it matched)
        self.commands: dict[
            str | None, dict[str, dict]
        ] = {}  # guild id (None: global) -> command id -> command
        self.messages: dict[str, dict] = {}  # message id -> message payload
        self.interactions: dict[str, dict] = {}  # interaction id -> state
        self.forbidden_channels: set[str] = {self.world.quiet_id}
        self.attachments: dict[str, bytes] = {}

        self._sessions: list[_Session] = []
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None
        self._stopped: asyncio.Event | None = None
        self._lifetime_task: asyncio.Task | None = None
        self._seq = itertools.count(1)
        self._build_world()

    # ------------------------------------------------------------ world

    def _build_world(self) -> None:
        w = self.world
        self.users: dict[str, dict] = {
            w.bot_id: self._user(w.bot_id, w.bot_name, bot=True),
            w.alice_id: self._user(w.alice_id, "alice"),
            w.bob_id: self._user(w.bob_id, "bob"),
            w.carol_id: self._user(w.carol_id, "carol"),
        }
        for name in w.extra_users:
            self.users[w.user_id(name)] = self._user(w.user_id(name), name)
        self.roles: dict[str, dict] = {
            w.everyone_role_id: self._role(w.everyone_role_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            w.moderators_role_id: self._role(
                w.moderators_role_id, "Moderators", P_MANAGE_GUILD | P_MANAGE_MESSAGES | P_MENTION_EVERYONE, 1
            ),
        }
        self.member_roles: dict[str, list[str]] = {uid: [] for uid in self.users} | {
            w.carol_id: [w.moderators_role_id]
        }
        self.channels: dict[str, dict] = {
            w.general_id: self._text_channel(w.general_id, "general", 0),
            w.questions_id: self._text_channel(w.questions_id, "questions", 1),
            w.quiet_id: self._text_channel(
                w.quiet_id,
                "announcements",
                2,
                overwrites=[{"id": w.bot_id, "type": 1, "allow": "0", "deny": str(P_SEND_MESSAGES)}],
            ),
        }
        self.threads: dict[str, dict] = {}

    def _user(self, uid: str, name: str, *, bot: bool = False) -> dict:
        user = {
            "id": uid,
            "username": name,
            "global_name": name.capitalize(),
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        if bot:
            user |= {"bot": True, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}
        return user

    def _role(self, rid: str, name: str, permissions: int, position: int) -> dict:
        return {
            "id": rid,
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _text_channel(self, cid: str, name: str, position: int, overwrites: list | None = None) -> dict:
        return {
            "id": cid,
            "type": 0,
            "guild_id": self.world.guild_id,
            "name": name,
            "position": position,
            "permission_overwrites": overwrites or [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def member(self, uid: str) -> dict:
        return {
            "user": self.users[uid],
            "nick": None,
            "avatar": None,
            "roles": list(self.member_roles.get(uid, [])),
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
        }

    def permissions_of(self, uid: str) -> int:
        if uid == self.world.owner_id:
            return P_ALL
        perms = int(self.roles[self.world.everyone_role_id]["permissions"])
        for rid in self.member_roles.get(uid, []):
            perms |= int(self.roles[rid]["permissions"])
        return P_ALL if perms & P_ADMINISTRATOR else perms

    def guild_payload(self) -> dict:
        w = self.world
        return {
            "id": w.guild_id,
            "name": "Stand-in Guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": w.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": w.general_id,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "max_video_channel_users": 25,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self.users),
            "voice_states": [],
            "members": [self.member(u) for u in self.users],
            "channels": list(self.channels.values()),
            "threads": list(self.threads.values()),
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
        }

    def application_payload(self) -> dict:
        w = self.world
        return {
            "id": w.app_id,
            "name": w.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self.users[w.owner_id],
            "team": None,
            "hook": True,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
            "integration_types_config": {"0": {}},
        }

    def channel_or_thread(self, cid: str) -> dict | None:
        return self.channels.get(cid) or self.threads.get(cid)

    # ------------------------------------------------------------ lifecycle

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CONTROL_PREFIX}"

    async def start(self, port: int = 0) -> DiscordStandIn:
        self._changed = asyncio.Condition()
        self._stopped = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", CONTROL_PREFIX + "/{tail:.*}", self._control)
        app.router.add_get("/attachments/{aid}/{filename}", self._attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._lifetime_task = asyncio.create_task(self._expire())
        return self

    async def _expire(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=self.lifetime)  # type: ignore[union-attr]
        if not self._stopped.is_set():  # type: ignore[union-attr]
            print(f"discord stand-in: lifetime of {self.lifetime:.0f}s over, stopping", file=sys.stderr)
            await self.stop()

    async def stop(self) -> None:
        if self._stopped is None or self._runner is None:
            return
        self._stopped.set()
        for session in list(self._sessions):
            with contextlib.suppress(Exception):
                await session.ws.close(code=1001, message=b"stand-in stopping")
        runner, self._runner = self._runner, None
        await runner.cleanup()
        task = self._lifetime_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped.wait()

    async def __aenter__(self) -> DiscordStandIn:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def patch_discord_py(self) -> Callable[[], None]:
        """Point discord.py (in this process) at the stand-in; returns a function that undoes it."""
        import discord.gateway
        import discord.http
        import yarl

        old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

        def restore() -> None:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

        return restore

    # ------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` returns something truthy (re-checked on every recorded change)."""
        assert self._changed is not None
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"stand-in: condition not met within {timeout}s")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))

    def ready_sessions(self) -> list[_Session]:
        return [s for s in self._sessions if s.identified and not s.ws.closed]

    async def wait_identified(self, timeout: float = 30.0) -> dict:
        """Wait for a client to IDENTIFY (READY and GUILD_CREATE are sent right after); returns the IDENTIFY."""
        await self.wait_for(lambda: self.ready_sessions(), timeout)
        return self.identifies[-1]

    def requests_of(self, kind: str | None = None, **match: Any) -> list[Recorded]:
        out = []
        for rec in list(self.requests):
            if kind is not None and rec.kind != kind:
                continue
            if all(getattr(rec, k) == v for k, v in match.items()):
                out.append(rec)
        return out

    def sent_for_interaction(self, interaction_id: str) -> list[Sent]:
        return [s for s in self.sent if s.interaction_id == interaction_id]

    # ------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=400, text="websocket expected")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = dict(request.query)
        session = _Session(ws, zlib_stream=query.get("compress") == "zlib-stream")
        self._sessions.append(session)
        self._log_gateway("connect", query=query)
        try:
            if query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Only json encoding is supported by the stand-in")
                return ws
            await self._send(
                session,
                {
                    "op": OP_HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                },
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_gateway_message(session, json.loads(msg.data))
                elif msg.type == WSMsgType.BINARY:
                    await self._on_gateway_message(session, json.loads(msg.data.decode()))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._log_gateway("disconnect", close_code=ws.close_code)
            if session in self._sessions:
                self._sessions.remove(session)
            await self._notify()
        return ws

    def _log_gateway(self, what: str, **extra: Any) -> None:
        self.gateway_log.append({"t": time.monotonic(), "what": what, **extra})

    async def _send(self, session: _Session, payload: dict) -> None:
        data = json.dumps(payload, separators=(",", ":"))
        async with session.lock:
            if session.ws.closed:
                return
            if session.zlib is not None:
                blob = session.zlib.compress(data.encode()) + session.zlib.flush(zlib.Z_SYNC_FLUSH)
                await session.ws.send_bytes(blob)
            else:
                await session.ws.send_str(data)

    async def _on_gateway_message(self, session: _Session, msg: dict) -> None:
        op, d = msg.get("op"), msg.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats.append(time.monotonic())
            self._log_gateway("heartbeat", seq=d)
            await self._send(session, {"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(session, d or {})
        elif op == OP_RESUME:
            self._log_gateway("resume")
            await self._send(session, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
        elif op == OP_PRESENCE:
            self._log_gateway("presence", d=d)
        elif op == OP_REQUEST_MEMBERS:
            self._log_gateway("request_members", d=d)
            await self._dispatch_to(
                session,
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": self.world.guild_id,
                    "members": [self.member(u) for u in self.users],
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": (d or {}).get("nonce"),
                },
            )
        else:
            self._log_gateway("unknown_op", op=op)
        await self._notify()

    async def _identify(self, session: _Session, d: dict) -> None:
        token = d.get("token")
        ok = self.expected_token is None or token == self.expected_token
        intents = int(d.get("intents") or 0)
        record = {k: v for k, v in d.items() if k != "token"} | {"token_ok": ok, "t": time.monotonic()}
        self.identifies.append(record)
        self._log_gateway("identify", intents=intents, token_ok=ok)
        if not ok:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session.identified, session.intents, session.session_id = True, intents, self.ids()
        w = self.world
        await self._dispatch_to(
            session,
            "READY",
            {
                "v": 10,
                "user": self.users[w.bot_id],
                "guilds": [{"id": w.guild_id, "unavailable": True}],
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "session_type": "normal",
                "shard": d.get("shard", [0, 1]),
                "application": {"id": w.app_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "user_settings": {},
                "geo_ordered_rtc_regions": [],
                "auth": {},
            },
        )
        guild = self.guild_payload()
        if (
            not intents & INTENT_GUILD_MEMBERS
        ):  # like Discord: without the members intent only the bot's own member
            guild["members"] = [self.member(w.bot_id)]
        await self._dispatch_to(session, "GUILD_CREATE", guild)

    @staticmethod
    def _event_intent(event: str, data: dict) -> int | None:
        if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") or event.startswith(
            ("CHANNEL_", "THREAD_", "GUILD_ROLE_")
        ):
            return INTENT_GUILDS
        if event.startswith("MESSAGE_REACTION_"):
            return INTENT_GUILD_MESSAGE_REACTIONS
        if event.startswith("MESSAGE_"):
            return INTENT_GUILD_MESSAGES if data.get("guild_id") else INTENT_DIRECT_MESSAGES
        if event.startswith("GUILD_MEMBER_"):
            return INTENT_GUILD_MEMBERS
        return None  # READY, INTERACTION_CREATE, ...: always

    def _for_session(self, session: _Session, event: str, data: dict) -> dict | None:
        needed = self._event_intent(event, data)
        if needed is not None and not session.intents & needed:
            return None
        if (
            event in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
            and data.get("guild_id")
            and not session.intents & INTENT_MESSAGE_CONTENT
        ):
            bot = self.world.bot_id
            mentioned = any(u.get("id") == bot for u in data.get("mentions") or [])
            if not mentioned and (data.get("author") or {}).get("id") != bot:
                data = dict(data, content="", embeds=[], attachments=[], components=[])
        return data

    async def _dispatch_to(self, session: _Session, event: str, data: dict) -> bool:
        filtered = (
            self._for_session(session, event, data) if event not in ("READY", "GUILD_MEMBERS_CHUNK") else data
        )
        if filtered is None:
            return False
        session.seq += 1
        await self._send(session, {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": filtered})
        self._log_gateway("dispatch", event=event, seq=session.seq)
        return True

    async def dispatch(self, event: str, data: dict) -> int:
        """Send an event to every identified gateway session; returns how many received it."""
        delivered = 0
        for session in self.ready_sessions():
            delivered += await self._dispatch_to(session, event, data)
        await self._notify()
        return delivered

    # ------------------------------------------------------------ event injection

    def _interaction_base(self, user_id: str, channel_id: str, itype: int) -> dict:
        w = self.world
        iid, token = self.ids(), f"interaction-token-{self.ids()}"
        channel = self.channel_or_thread(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        member = self.member(user_id) | {"permissions": str(self.permissions_of(user_id))}
        return {
            "id": iid,
            "application_id": w.app_id,
            "type": itype,
            "token": token,
            "version": 1,
            "guild_id": w.guild_id,
            "guild": {"id": w.guild_id, "locale": "en-US", "features": []},
            "channel_id": channel_id,
            "channel": channel,
            "member": member,
            "user": None,
            "app_permissions": str(self.permissions_of(w.bot_id)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": w.guild_id},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    def _register_interaction(self, payload: dict) -> dict:
        state = {
            "id": payload["id"],
            "token": payload["token"],
            "channel_id": payload["channel_id"],
            "created": time.monotonic(),
            "response_type": None,
            "responded_at": None,
            "original_id": None,
            "original_loading": False,
            "original_flags": 0,
            "followups": [],
            "message_id": (payload.get("message") or {}).get("id"),
            "payload": payload,
        }
        self.interactions[payload["id"]] = state
        return state

    async def inject_slash_command(
        self,
        name: str = "ask",
        options: dict[str, Any] | None = None,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
    ) -> dict:
        """Send INTERACTION_CREATE for ``/name option:value ...`` from a guild member.

        Returns ``{"id", "token", "t", "delivered"}`` (``t``: monotonic time it was sent).
        """
        w = self.world
        payload = self._interaction_base(user_id or w.alice_id, channel_id or w.general_id, 2)
        guild_cmd = self.commands.get(w.guild_id, {})
        registered = [c for c in guild_cmd.values() if c["name"] == name]
        scope_guild = bool(registered)
        registered = registered or [c for c in self.commands.get(None, {}).values() if c["name"] == name]
        cmd_id = registered[0]["id"] if registered else self.ids()
        data: dict[str, Any] = {
            "id": cmd_id,
            "name": name,
            "type": 1,
            "options": [{"name": k, "type": _option_type(v), "value": v} for k, v in (options or {}).items()],
        }
        if scope_guild:
            data["guild_id"] = w.guild_id
        payload["data"] = data
        self._register_interaction(payload)
        t = time.monotonic()
        delivered = await self.dispatch("INTERACTION_CREATE", payload)
        return {
            "id": payload["id"],
            "token": payload["token"],
            "t": t,
            "delivered": delivered,
            "registered": bool(registered),
        }

    async def inject_component(
        self, custom_id: str, message_id: str, *, user_id: str | None = None, component_type: int = 2
    ) -> dict:
        """Send INTERACTION_CREATE for a click on a message component (button) of a stored message."""
        message = self.messages[message_id]
        payload = self._interaction_base(user_id or self.world.alice_id, message["channel_id"], 3)
        payload["data"] = {"custom_id": custom_id, "component_type": component_type}
        payload["message"] = message
        self._register_interaction(payload)
        t = time.monotonic()
        delivered = await self.dispatch("INTERACTION_CREATE", payload)
        return {"id": payload["id"], "token": payload["token"], "t": t, "delivered": delivered}

    def _message_payload(
        self,
        *,
        mid: str,
        channel_id: str,
        author_id: str,
        content: str,
        embeds: list | None = None,
        components: list | None = None,
        flags: int = 0,
        reference_id: str | None = None,
        webhook_id: str | None = None,
        mtype: int = 0,
        attachments: list | None = None,
    ) -> dict:
        w = self.world
        mentions = []
        for uid in dict.fromkeys(_USER_MENTION.findall(content or "")):
            if uid in self.users:
                mentions.append(
                    self.users[uid] | {"member": {k: v for k, v in self.member(uid).items() if k != "user"}}
                )
        mention_roles = [r for r in dict.fromkeys(_ROLE_MENTION.findall(content or "")) if r in self.roles]
        msg: dict[str, Any] = {
            "id": mid,
            "channel_id": channel_id,
            "guild_id": w.guild_id,
            "author": self.users[author_id],
            "member": {k: v for k, v in self.member(author_id).items() if k != "user"},
            "content": content or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": ("@everyone" in (content or "") or "@here" in (content or ""))
            and bool(self.permissions_of(author_id) & P_MENTION_EVERYONE),
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": attachments or [],
            "embeds": embeds or [],
            "pinned": False,
            "type": mtype,
            "flags": flags,
            "components": components or [],
        }
        if webhook_id:
            msg["webhook_id"] = webhook_id
        if reference_id is not None:
            ref = self.messages.get(reference_id)
            msg["type"] = 19
            msg["message_reference"] = {
                "type": 0,
                "message_id": reference_id,
                "channel_id": ref["channel_id"] if ref else channel_id,
                "guild_id": w.guild_id,
            }
            msg["referenced_message"] = (
                {k: v for k, v in ref.items() if k != "referenced_message"} if ref else None
            )
        return msg

    async def inject_message(
        self,
        content: str,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        mention_bot: bool = False,
        reply_to: str | None = None,
        attachments: list[tuple[str, bytes]] | None = None,
    ) -> dict:
        """A guild member posts a message (MESSAGE_CREATE). ``mention_bot`` prefixes ``<@bot>``.

        ``reply_to`` makes it a reply to that message id (the replied-to author is mentioned, as Discord
        does for a default reply). ``attachments`` are (filename, bytes), served from the stand-in.
        Returns the message payload.
        """
        w = self.world
        cid = channel_id or w.general_id
        if self.channel_or_thread(cid) is None:
            raise KeyError(f"unknown channel {cid}")
        text = f"<@{w.bot_id}> {content}" if mention_bot else content
        files = []
        for filename, blob in attachments or []:
            aid = self.ids()
            self.attachments[aid] = blob
            url = f"http://127.0.0.1:{self.port}/attachments/{aid}/{urllib.parse.quote(filename)}"
            files.append(
                {
                    "id": aid,
                    "filename": filename,
                    "size": len(blob),
                    "url": url,
                    "proxy_url": url,
                    "content_type": "text/plain",
                }
            )
        msg = self._message_payload(
            mid=self.ids(),
            channel_id=cid,
            author_id=user_id or w.alice_id,
            content=text,
            reference_id=reply_to,
            attachments=files,
        )
        if reply_to is not None and msg.get("referenced_message"):
            author = msg["referenced_message"]["author"]
            if author["id"] not in [m["id"] for m in msg["mentions"]]:
                msg["mentions"].append(
                    author | {"member": {k: v for k, v in self.member(author["id"]).items() if k != "user"}}
                )
        self.messages[msg["id"]] = msg
        self._bump_thread(cid)
        t = time.monotonic()
        delivered = await self.dispatch("MESSAGE_CREATE", msg)
        return msg | {"_t": t, "_delivered": delivered}

    async def inject_thread(
        self, name: str, *, parent_id: str | None = None, owner_id: str | None = None
    ) -> dict:
        """A member creates a public thread (THREAD_CREATE); returns the thread channel."""
        thread = self._new_thread(
            self.ids(), name, parent_id or self.world.general_id, owner_id or self.world.alice_id
        )
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return thread

    def _new_thread(
        self, tid: str, name: str, parent_id: str, owner_id: str, auto_archive: int = 1440
    ) -> dict:
        thread = {
            "id": tid,
            "type": 11,
            "guild_id": self.world.guild_id,
            "parent_id": parent_id,
            "owner_id": owner_id,
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive,
                "archive_timestamp": now_iso(),
                "locked": False,
                "create_timestamp": now_iso(),
            },
            "member": {"id": tid, "user_id": owner_id, "join_timestamp": now_iso(), "flags": 0},
        }
        self.threads[tid] = thread
        return thread

    def _bump_thread(self, cid: str) -> None:
        if cid in self.threads:
            self.threads[cid]["message_count"] += 1
            self.threads[cid]["total_message_sent"] += 1

    # ------------------------------------------------------------ HTTP plumbing

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # discord.py parses a body as JSON only if Content-Type is exactly "application/json" (no charset)
        return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json")

    @staticmethod
    def _error(status: int, code: int, message: str, errors: dict | None = None) -> tuple[int, dict]:
        body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            body["errors"] = errors
        return status, body

    async def _read_body(self, request: web.Request) -> tuple[Any, list]:
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            payload, files = None, []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                blob = await part.read(decode=False)  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(blob.decode())
                else:
                    files.append({"name": part.name, "filename": part.filename, "size": len(blob)})  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw.decode()), []
        except ValueError:
            return {"_raw": raw.decode(errors="replace")}, []

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        auth = request.headers.get("Authorization", "")
        authorized = self.expected_token is None or auth == f"Bot {self.expected_token}"
        rec = Recorded(
            seq=next(self._seq),
            t=time.monotonic(),
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            authorized=authorized,
        )
        self.requests.append(rec)
        try:
            status, data = await self._route(rec, auth)
        except Exception as exc:  # a stand-in bug must show up as a 500 the test can see, not a hang
            rec.kind = "standin_error"
            status, data = self._error(500, 0, f"stand-in error: {exc!r}")
        rec.status, rec.response = status, data
        await self._notify()
        if status == 204 or data is None:
            return web.Response(status=204 if status < 300 else status)
        return self._json(data, status)

    # ------------------------------------------------------------ REST routes

    async def _route(self, rec: Recorded, auth: str) -> tuple[int, Any]:
        m, p, w = rec.method, rec.path, self.world
        is_webhook = p.startswith(("/webhooks/", "/interactions/"))
        if not is_webhook and not rec.authorized:
            rec.kind = "unauthorized"
            return self._error(401, 0, "401: Unauthorized")

        if m == "GET" and p == "/users/@me":
            rec.kind = "login"
            return 200, self.users[w.bot_id]
        if m == "GET" and p in ("/oauth2/applications/@me", "/applications/@me"):
            rec.kind = "application_info"
            return 200, self.application_payload()
        if m == "GET" and p in ("/gateway", "/gateway/bot"):
            rec.kind = "gateway_info"
            return 200, {
                "url": self.gateway_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }

        match = re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands(?:/(\d+))?", p)
        if match:
            return self._commands(rec, match.group(1), match.group(2), match.group(3))

        match = re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p)
        if match and m == "POST":
            return await self._interaction_callback(rec, match.group(1), match.group(2))

        match = re.fullmatch(r"/webhooks/(\d+)/([^/]+)(?:/messages/(@original|\d+))?", p)
        if match:
            return await self._webhook(rec, match.group(1), match.group(2), match.group(3))

        match = re.fullmatch(r"/channels/(\d+)(/.*)?", p)
        if match:
            return await self._channel(rec, match.group(1), match.group(2) or "")

        match = re.fullmatch(r"/guilds/(\d+)(/.*)?", p)
        if match and m == "GET":
            rec.kind = "guild_get"
            rest = match.group(2) or ""
            if match.group(1) != w.guild_id:
                return self._error(404, 10004, "Unknown Guild")
            if rest == "":
                return 200, {
                    k: v
                    for k, v in self.guild_payload().items()
                    if k not in ("members", "channels", "threads")
                }
            if rest == "/channels":
                return 200, list(self.channels.values())
            mm = re.fullmatch(r"/members/(\d+)", rest)
            if mm:
                return (
                    (200, self.member(mm.group(1)))
                    if mm.group(1) in self.users
                    else self._error(404, 10007, "Unknown Member")
                )
            if rest == "/roles":
                return 200, list(self.roles.values())
        match = re.fullmatch(r"/users/(\d+)", p)
        if match and m == "GET":
            rec.kind = "user_get"
            uid = match.group(1)
            return (200, self.users[uid]) if uid in self.users else self._error(404, 10013, "Unknown User")

        rec.kind = "unhandled"
        return self._error(404, 0, "404: Not Found")

    def _commands(
        self, rec: Recorded, app_id: str, guild_id: str | None, cmd_id: str | None
    ) -> tuple[int, Any]:
        if app_id != self.world.app_id:
            rec.kind = "commands_error"
            return self._error(403, 50001, "Missing Access")
        if guild_id is not None and guild_id != self.world.guild_id:
            rec.kind = "commands_error"
            return self._error(403, 50001, "Missing Access")
        store = self.commands.setdefault(guild_id, {})
        m = rec.method
        rec.kind = f"commands_{m.lower()}"
        if m == "GET" and cmd_id is None:
            return 200, list(store.values())
        if m == "GET":
            return (
                (200, store[cmd_id])
                if cmd_id in store
                else self._error(404, 10063, "Unknown application command")
            )
        if m == "PUT" and cmd_id is None:
            if not isinstance(rec.json, list):
                return self._error(400, 50035, "Invalid Form Body")
            errors = FormErrors()
            for i, cmd in enumerate(rec.json):
                self._check_command(errors, f"{i}", cmd)
            if errors:
                return self._error(400, 50035, "Invalid Form Body", errors.errors)
            by_name = {c["name"]: c for c in store.values()}
            store.clear()
            for cmd in rec.json:
                full = self._full_command(cmd, guild_id, by_name.get(cmd["name"], {}).get("id"))
                store[full["id"]] = full
            return 200, list(store.values())
        if m == "POST" and cmd_id is None:
            errors = FormErrors()
            self._check_command(errors, "", rec.json or {})
            if errors:
                return self._error(400, 50035, "Invalid Form Body", errors.errors)
            existing = [c for c in store.values() if c["name"] == rec.json["name"]]
            full = self._full_command(rec.json, guild_id, existing[0]["id"] if existing else None)
            store[full["id"]] = full
            return (200 if existing else 201), full
        if m == "PATCH" and cmd_id in store:
            store[cmd_id] = store[cmd_id] | (rec.json or {})
            return 200, store[cmd_id]
        if m == "DELETE" and cmd_id in store:
            del store[cmd_id]
            return 204, None
        return self._error(404, 10063, "Unknown application command")

    @staticmethod
    def _check_command(errors: FormErrors, prefix: str, cmd: dict) -> None:
        pre = f"{prefix}." if prefix else ""
        name = cmd.get("name") or ""
        if not re.fullmatch(r"[-_\w]{1,32}", name) or (cmd.get("type", 1) == 1 and name != name.lower()):
            errors.add(f"{pre}name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if cmd.get("type", 1) == 1:
            desc = cmd.get("description") or ""
            if not 1 <= len(desc) <= 100:
                errors.add(
                    f"{pre}description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            for j, opt in enumerate(cmd.get("options") or []):
                if not 1 <= len(opt.get("description") or "") <= 100:
                    errors.add(
                        f"{pre}options.{j}.description",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    )
                ml = opt.get("max_length")
                if ml is not None and not 1 <= ml <= 6000:
                    errors.add(
                        f"{pre}options.{j}.max_length", "NUMBER_TYPE_MAX", "int value should be <= 6000."
                    )

    def _full_command(self, cmd: dict, guild_id: str | None, keep_id: str | None) -> dict:
        full = {
            "id": keep_id or self.ids(),
            "application_id": self.world.app_id,
            "version": self.ids(),
            "type": 1,
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "options": [],
            "integration_types": [0],
            "contexts": None,
        } | cmd
        if guild_id:
            full["guild_id"] = guild_id
        return full

    # -- interactions and webhooks

    def _message_from_body(
        self, body: dict, *, mid: str, channel_id: str, webhook: bool, mtype: int = 0
    ) -> dict:
        msg = self._message_payload(
            mid=mid,
            channel_id=channel_id,
            author_id=self.world.bot_id,
            content=body.get("content") or "",
            embeds=body.get("embeds"),
            components=body.get("components"),
            flags=int(body.get("flags") or 0),
            reference_id=_sid((body.get("message_reference") or {}).get("message_id")),
            webhook_id=self.world.app_id if webhook else None,
            mtype=mtype,
        )
        return msg

    def _record_sent(
        self, rec: Recorded, kind: str, msg: dict, body: dict, interaction_id: str | None
    ) -> Sent:
        ref = msg.get("message_reference")
        replied_author = None
        if ref and msg.get("referenced_message"):
            replied_author = msg["referenced_message"]["author"]["id"]
        am = body.get("allowed_mentions")
        content = body["content"] if "content" in body else msg.get("content")
        sent = Sent(
            seq=rec.seq,
            t=rec.t,
            kind=kind,
            message_id=msg["id"],
            channel_id=msg["channel_id"],
            content=content,
            embeds=body.get("embeds") if "embeds" in body else msg.get("embeds", []),
            components=body.get("components") if "components" in body else msg.get("components", []),
            flags=int(msg.get("flags") or 0),
            allowed_mentions=am,
            has_allowed_mentions="allowed_mentions" in body,
            pings=would_ping(
                content,
                am,
                replied_user_id=replied_author
                if kind in ("channel_message", "followup", "callback")
                else None,
            ),
            interaction_id=interaction_id,
            reference=ref,
        )
        self.sent.append(sent)
        return sent

    def _check_send_permission(self, channel_id: str) -> tuple[int, dict] | None:
        parent = self.threads.get(channel_id, {}).get("parent_id")
        if channel_id in self.forbidden_channels or parent in self.forbidden_channels:
            return self._error(403, 50013, "Missing Permissions")
        return None

    async def _interaction_callback(self, rec: Recorded, iid: str, token: str) -> tuple[int, Any]:
        rec.kind = "interaction_callback"
        state = self.interactions.get(iid)
        if state is None or state["token"] != token:
            return self._error(404, 10062, "Unknown interaction")
        body = rec.json or {}
        age = rec.t - state["created"]
        if state["response_type"] is not None:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        if age > self.interaction_deadline:
            state["late"] = age
            return self._error(404, 10062, "Unknown interaction")
        rtype = body.get("type")
        data = body.get("data") or {}
        message = None
        if rtype in (4, 5):
            if rtype == 4:
                errors = validate_message_body(data, has_files=bool(rec.files))
                if errors:
                    return self._error(400, 50035, "Invalid Form Body", errors.errors)
            flags = int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL
            if rtype == 5:
                flags |= MESSAGE_FLAG_LOADING
            body_for_msg = (data | {"flags": flags}) if rtype == 4 else {"content": "", "flags": flags}
            message = self._message_from_body(
                body_for_msg, mid=self.ids(), channel_id=state["channel_id"], webhook=True, mtype=20
            )
            message["interaction_metadata"] = {
                "id": iid,
                "type": 2,
                "user": state["payload"]["member"]["user"],
            }
            self.messages[message["id"]] = message
            state.update(original_id=message["id"], original_loading=rtype == 5, original_flags=flags)
            if rtype == 4:
                self._record_sent(rec, "callback", message, data, iid)
        elif rtype in (6, 7):
            if state.get("message_id") is None:
                return self._error(400, 40043, "Interaction must be a component interaction")
            if rtype == 7:
                errors = validate_message_body(data, partial=True)
                if errors:
                    return self._error(400, 50035, "Invalid Form Body", errors.errors)
                message = self.messages[state["message_id"]]
                message.update({k: v for k, v in data.items() if k in ("content", "embeds", "components")})
                message["edited_timestamp"] = now_iso()
                self._record_sent(rec, "callback_update", message, data, iid)
        elif rtype == 9:
            pass  # a modal
        else:
            return self._error(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_CHOICES",
                                "message": "Value must be one of (4, 5, 6, 7, 8, 9, 10, 12).",
                            }
                        ]
                    }
                },
            )
        state.update(response_type=rtype, responded_at=rec.t)
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        out: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": state["payload"]["type"],
                "response_message_id": message["id"] if message else None,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(message and message["flags"] & MESSAGE_FLAG_EPHEMERAL),
            }
        }
        if message is not None:
            out["resource"] = {"type": rtype, "message": message}
        return 200, out

    async def _webhook(self, rec: Recorded, app_id: str, token: str, target: str | None) -> tuple[int, Any]:
        state = next((s for s in self.interactions.values() if s["token"] == token), None)
        if app_id != self.world.app_id or state is None:
            rec.kind = "webhook_error"
            return self._error(404, 10015, "Unknown Webhook")
        iid = state["id"]
        body = rec.json or {}
        wait = rec.query.get("wait") in ("1", "true", "True")
        if target is None and rec.method == "POST":
            rec.kind = "followup"
            if state["response_type"] is None:
                return self._error(
                    404, 10015, "Unknown Webhook"
                )  # Discord: no follow-ups before the response
            errors = validate_message_body(body, has_files=bool(rec.files))
            if errors:
                return self._error(400, 50035, "Invalid Form Body", errors.errors)
            if state["original_loading"]:
                # the first follow-up after a deferred response replaces the "thinking" message
                flags = (int(body.get("flags") or 0) & ~MESSAGE_FLAG_EPHEMERAL) | state[
                    "original_flags"
                ] & MESSAGE_FLAG_EPHEMERAL
                msg = self._message_from_body(
                    body | {"flags": flags},
                    mid=state["original_id"],
                    channel_id=state["channel_id"],
                    webhook=True,
                    mtype=20,
                )
                msg["interaction_metadata"] = self.messages[state["original_id"]].get("interaction_metadata")
                state["original_loading"] = False
            else:
                msg = self._message_from_body(
                    body, mid=self.ids(), channel_id=state["channel_id"], webhook=True, mtype=23
                )
            self.messages[msg["id"]] = msg
            state["followups"].append(msg["id"])
            self._record_sent(rec, "followup", msg, body, iid)
            return (200, msg) if wait else (204, None)
        if target is None:
            rec.kind = "webhook_other"
            return self._error(405, 0, "405: Method Not Allowed")
        mid = state["original_id"] if target == "@original" else target
        rec.kind = {
            "GET": "webhook_get",
            "PATCH": "edit_original" if target == "@original" else "edit_followup",
            "DELETE": "webhook_delete",
        }.get(rec.method, "webhook_other")
        if mid is None or mid not in self.messages:
            return self._error(404, 10008, "Unknown Message")
        msg = self.messages[mid]
        if rec.method == "GET":
            return 200, msg
        if rec.method == "DELETE":
            del self.messages[mid]
            return 204, None
        if rec.method == "PATCH":
            errors = validate_message_body(body, partial=True)
            if errors:
                return self._error(400, 50035, "Invalid Form Body", errors.errors)
            for key in ("content", "embeds", "components"):
                if key in body:
                    msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
            msg["edited_timestamp"] = now_iso()
            if target == "@original":
                state["original_loading"] = False
                msg["flags"] = int(msg.get("flags") or 0) & ~MESSAGE_FLAG_LOADING
            self._record_sent(rec, rec.kind, msg, body, iid)
            return 200, msg
        return self._error(405, 0, "405: Method Not Allowed")

    # -- channels

    async def _channel(self, rec: Recorded, cid: str, rest: str) -> tuple[int, Any]:
        m = rec.method
        channel = self.channel_or_thread(cid)
        if channel is None:
            rec.kind = "channel_error"
            return self._error(404, 10003, "Unknown Channel")
        body = rec.json if isinstance(rec.json, dict) else {}
        if rest == "" and m == "GET":
            rec.kind = "channel_get"
            return 200, channel
        if rest == "/typing" and m == "POST":
            rec.kind = "typing"
            return 204, None
        if rest == "/messages" and m == "POST":
            rec.kind = "message_create"
            denied = self._check_send_permission(cid)
            if denied:
                return denied
            errors = validate_message_body(body, has_files=bool(rec.files))
            ref_id = _sid((body.get("message_reference") or {}).get("message_id"))
            if (
                ref_id is not None
                and ref_id not in self.messages
                and (body.get("message_reference") or {}).get("fail_if_not_exists", True)
            ):
                errors.add("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            if errors:
                return self._error(400, 50035, "Invalid Form Body", errors.errors)
            msg = self._message_from_body(body, mid=self.ids(), channel_id=cid, webhook=False)
            self.messages[msg["id"]] = msg
            self._bump_thread(cid)
            self._record_sent(rec, "channel_message", msg, body, None)
            if self.echo_own_messages:
                await self.dispatch("MESSAGE_CREATE", msg)
            return 200, msg
        if rest == "/messages" and m == "GET":
            rec.kind = "message_history"
            limit = int(rec.query.get("limit", 50))
            before, after = rec.query.get("before"), rec.query.get("after")
            msgs = [x for x in self.messages.values() if x["channel_id"] == cid]
            if before:
                msgs = [x for x in msgs if int(x["id"]) < int(before)]
            if after:
                msgs = [x for x in msgs if int(x["id"]) > int(after)]
            msgs.sort(key=lambda x: int(x["id"]), reverse=True)
            return 200, msgs[:limit]
        match = re.fullmatch(r"/messages/(\d+)(/.*)?", rest)
        if match:
            mid, sub = match.group(1), match.group(2) or ""
            msg = self.messages.get(mid)
            if msg is None or msg["channel_id"] != cid:
                rec.kind = "message_error"
                return self._error(404, 10008, "Unknown Message")
            if sub == "" and m == "GET":
                rec.kind = "message_get"
                return 200, msg
            if sub == "" and m == "PATCH":
                rec.kind = "message_edit"
                if msg["author"]["id"] != self.world.bot_id:
                    return self._error(403, 50005, "Cannot edit a message authored by another user")
                errors = validate_message_body(body, partial=True)
                if errors:
                    return self._error(400, 50035, "Invalid Form Body", errors.errors)
                for key in ("content", "embeds", "components", "flags"):
                    if key in body:
                        msg[key] = (
                            body[key]
                            if body[key] is not None
                            else ([] if key not in ("content", "flags") else ("" if key == "content" else 0))
                        )
                msg["edited_timestamp"] = now_iso()
                self._record_sent(rec, "channel_edit", msg, body, None)
                if self.echo_own_messages:
                    await self.dispatch("MESSAGE_UPDATE", msg)
                return 200, msg
            if sub == "" and m == "DELETE":
                rec.kind = "message_delete"
                del self.messages[mid]
                return 204, None
            if sub == "/threads" and m == "POST":
                rec.kind = "thread_create"
                return await self._thread_from_message(rec, cid, msg, body)
            if sub.startswith("/reactions"):
                rec.kind = "reaction"
                return 204, None
        if rest == "/threads" and m == "POST":
            rec.kind = "thread_create"
            name = body.get("name") or ""
            if not 1 <= len(name) <= 100:
                return self._error(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "name": {
                            "_errors": [
                                {
                                    "code": "BASE_TYPE_BAD_LENGTH",
                                    "message": "Must be between 1 and 100 in length.",
                                }
                            ]
                        }
                    },
                )
            thread = self._new_thread(
                self.ids(), name, cid, self.world.bot_id, body.get("auto_archive_duration", 1440)
            )
            await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
            return 201, thread
        if rest.startswith("/thread-members"):
            rec.kind = "thread_member"
            return 204, None
        rec.kind = "unhandled"
        return self._error(404, 0, "404: Not Found")

    async def _thread_from_message(self, rec: Recorded, cid: str, msg: dict, body: dict) -> tuple[int, Any]:
        if cid in self.threads:
            return self._error(400, 50024, "Cannot execute action on this channel type")
        denied = self._check_send_permission(cid)
        if denied:
            return denied
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            return self._error(
                400,
                50035,
                "Invalid Form Body",
                {
                    "name": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_BAD_LENGTH",
                                "message": "Must be between 1 and 100 in length.",
                            }
                        ]
                    }
                },
            )
        if msg["id"] in self.threads:
            return self._error(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(
            msg["id"], name, cid, self.world.bot_id, int(body.get("auto_archive_duration") or 1440)
        )
        msg["thread"] = thread
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return 201, thread

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        blob = self.attachments.get(request.match_info["aid"])
        if blob is None:
            return web.Response(status=404)
        return web.Response(body=blob, content_type="application/octet-stream")

    # ------------------------------------------------------------ control API (for the process mode)

    def state(self) -> dict:
        return {
            "port": self.port,
            "api_base": self.api_base,
            "gateway_url": self.gateway_url,
            "world": self.world.to_json(),
            "ready_sessions": len(self.ready_sessions()),
            "identifies": self.identifies,
            "heartbeats": self.heartbeats,
            "commands": {str(k): list(v.values()) for k, v in self.commands.items()},
            "threads": list(self.threads.values()),
            "now": time.monotonic(),
        }

    async def _control(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        body = await request.json() if request.can_read_body else {}
        try:
            if tail == "state":
                return self._json(self.state())
            if tail == "requests":
                since = int(request.query.get("since", 0))
                return self._json([r.to_dict() for r in self.requests if r.seq > since])
            if tail == "sent":
                return self._json([s.to_dict() for s in self.sent])
            if tail == "gateway_log":
                return self._json(self.gateway_log)
            if tail == "messages":
                return self._json(self.messages)
            if tail == "slash":
                return self._json(
                    await self.inject_slash_command(
                        body.get("name", "ask"),
                        body.get("options"),
                        user_id=body.get("user_id"),
                        channel_id=body.get("channel_id"),
                    )
                )
            if tail == "component":
                return self._json(
                    await self.inject_component(
                        body["custom_id"], body["message_id"], user_id=body.get("user_id")
                    )
                )
            if tail == "message":
                return self._json(
                    await self.inject_message(
                        body["content"],
                        user_id=body.get("user_id"),
                        channel_id=body.get("channel_id"),
                        mention_bot=bool(body.get("mention_bot")),
                        reply_to=body.get("reply_to"),
                    )
                )
            if tail == "thread":
                return self._json(
                    await self.inject_thread(
                        body["name"], parent_id=body.get("parent_id"), owner_id=body.get("owner_id")
                    )
                )
            if tail == "dispatch":
                return self._json({"delivered": await self.dispatch(body["t"], body["d"])})
            if tail == "shutdown":
                asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self.stop()))
                return self._json({"stopping": True})
        except KeyError as exc:
            return self._json({"error": f"missing or unknown: {exc}"}, 400)
        return self._json({"error": "unknown control endpoint"}, 404)


def _sid(value: Any) -> str | None:
    """Snowflakes arrive as strings or ints (discord.py sends ints); the stand-in keys everything by string."""
    return None if value is None else str(value)


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


# ---------------------------------------------------------------- process mode


class StandInClient:
    """Synchronous client for a stand-in's control API (stdlib only, no proxies)."""

    def __init__(self, control_url: str, timeout: float = 15.0):
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, name: str, body: dict | None = None, query: dict | None = None) -> Any:
        url = f"{self.control_url}/{name}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url,
            data=data,
            method="POST" if data is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with self._opener.open(req, timeout=self.timeout) as resp:
            return json.loads(resp.read().decode())

    def state(self) -> dict:
        return self._call("state")

    def requests(self, since: int = 0) -> list[dict]:
        return self._call("requests", query={"since": since})

    def sent(self) -> list[dict]:
        return self._call("sent")

    def gateway_log(self) -> list[dict]:
        return self._call("gateway_log")

    def messages(self) -> dict:
        return self._call("messages")

    def slash(
        self,
        name: str = "ask",
        options: dict | None = None,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
    ) -> dict:
        return self._call(
            "slash", {"name": name, "options": options or {}, "user_id": user_id, "channel_id": channel_id}
        )

    def component(self, custom_id: str, message_id: str, *, user_id: str | None = None) -> dict:
        return self._call("component", {"custom_id": custom_id, "message_id": message_id, "user_id": user_id})

    def message(
        self,
        content: str,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        mention_bot: bool = False,
        reply_to: str | None = None,
    ) -> dict:
        return self._call(
            "message",
            {
                "content": content,
                "user_id": user_id,
                "channel_id": channel_id,
                "mention_bot": mention_bot,
                "reply_to": reply_to,
            },
        )

    def thread(self, name: str, *, parent_id: str | None = None, owner_id: str | None = None) -> dict:
        return self._call("thread", {"name": name, "parent_id": parent_id, "owner_id": owner_id})

    def shutdown(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._call("shutdown", {})

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
    ) -> Any:
        """Poll ``predicate()`` until it returns something truthy; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} not met within {timeout}s")
            time.sleep(interval)


class StandInProcess:
    """Runs the stand-in as a separate process: ``with StandInProcess() as proc: proc.client.slash(...)``."""

    def __init__(
        self,
        *,
        lifetime: float = 600.0,
        token: str | None = None,
        extra_args: list[str] | None = None,
        cwd: str | None = None,
    ):
        self.lifetime = lifetime
        self.token = token
        self.extra_args = extra_args or []
        self.cwd = cwd or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.client: StandInClient | None = None

    def start(self, timeout: float = 20.0) -> StandInProcess:
        cmd = [
            sys.executable,
            "-m",
            "tests.helpers.discord_standin",
            "--lifetime",
            str(self.lifetime),
            *self.extra_args,
        ]
        if self.token:
            cmd += ["--token", self.token]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.PIPE, stderr=None, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError("discord stand-in process did not report its port")
        self.info = json.loads(line[0])
        self.client = StandInClient(self.info["control"])
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None and self.client is not None:
            self.client.shutdown()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> StandInProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def _serve(args: argparse.Namespace) -> None:
    standin = DiscordStandIn(
        token=args.token, lifetime=args.lifetime, heartbeat_interval_ms=args.heartbeat_ms
    )
    await standin.start(args.port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(standin.stop()))
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "port": standin.port,
                "api_base": standin.api_base,
                "gateway_url": standin.gateway_url,
                "control": standin.control_url,
                "world": standin.world.to_json(),
            }
        ),
        flush=True,
    )
    await standin.wait_stopped()
    await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A Discord-compatible stand-in server on 127.0.0.1 for tests."
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--lifetime", type=float, default=600.0, help="stop by itself after this many seconds"
    )
    parser.add_argument("--token", help="accept only this bot token (default: any)")
    parser.add_argument("--heartbeat-ms", type=int, default=5000, help="heartbeat interval sent in HELLO")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
