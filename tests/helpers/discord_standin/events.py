"""Events a test injects as if a guild member did something: a slash command or a button click
(INTERACTION_CREATE), a message (MESSAGE_CREATE), a thread (THREAD_CREATE); and the message and thread
payloads they carry (a mixin of :class:`~tests.helpers.discord_standin.server.DiscordStandIn`).
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from tests.helpers.discord_standin.limits import _ROLE_MENTION, _USER_MENTION
from tests.helpers.discord_standin.models import P_MENTION_EVERYONE, now_iso


class EventsMixin:
    """Injects member events into the gateway sessions."""

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


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3
