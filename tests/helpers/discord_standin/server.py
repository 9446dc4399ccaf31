"""The stand-in server, :class:`DiscordStandIn`: its state, start/stop and lifetime, waiting for conditions
and the control API under ``/_standin/`` that drives it from another process. The gateway, REST routes,
fake guild and event injection are its mixins (gateway.py, rest.py, messages.py, guild.py, events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.helpers.discord_standin.events import EventsMixin
from tests.helpers.discord_standin.gateway import GatewayMixin
from tests.helpers.discord_standin.guild import GuildMixin
from tests.helpers.discord_standin.messages import MessagesMixin
from tests.helpers.discord_standin.models import (
    API_PREFIX,
    CONTROL_PREFIX,
    INTERACTION_DEADLINE,
    PRIVILEGED_INTENTS,
    Recorded,
    Sent,
    Snowflakes,
    World,
    _Session,
)
from tests.helpers.discord_standin.rest import RestMixin


class DiscordStandIn(GuildMixin, GatewayMixin, EventsMixin, RestMixin, MessagesMixin):
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
