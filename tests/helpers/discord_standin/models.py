"""The stand-in's constants (routes, gateway opcodes, intents, permissions, message flags) and its records:
the fixed :class:`World` (ids of the application, guild, channels, roles and users), :class:`Recorded`
(one HTTP request received), :class:`Sent` (one message the bot created or edited), snowflake ids and
the per-connection gateway session.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

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
