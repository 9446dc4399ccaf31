"""The stand-in's gateway websocket: HELLO → IDENTIFY → READY → GUILD_CREATE, heartbeats, zlib-stream
compression, and dispatches filtered by the identified intents, with message content stripped without
the MESSAGE_CONTENT intent (a mixin of :class:`~tests.helpers.discord_standin.server.DiscordStandIn`).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from tests.helpers.discord_standin.models import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_PRESENCE,
    OP_REQUEST_MEMBERS,
    OP_RESUME,
    PRIVILEGED_INTENTS,
    _Session,
)


class GatewayMixin:
    """The gateway side of the stand-in."""

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
