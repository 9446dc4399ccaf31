"""The stand-in's REST API under ``/api/v10``: request recording, body parsing (JSON and multipart
``payload_json``), routing, login / gateway / guild / user lookups and application commands (a mixin of
:class:`~tests.helpers.discord_standin.server.DiscordStandIn`).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

from tests.helpers.discord_standin.limits import FormErrors
from tests.helpers.discord_standin.models import Recorded


class RestMixin:
    """REST plumbing and the routes that are not about messages."""

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
