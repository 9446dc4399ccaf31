"""The stand-in's message routes: interaction callbacks (3-second deadline, acknowledged once), follow-ups
and edits through the interaction webhook, channel messages, threads and attachments — every message
checked against Discord's limits and recorded as :class:`~tests.helpers.discord_standin.models.Sent`
(a mixin of :class:`~tests.helpers.discord_standin.server.DiscordStandIn`).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from tests.helpers.discord_standin.limits import validate_message_body, would_ping
from tests.helpers.discord_standin.models import (
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    Recorded,
    Sent,
    now_iso,
)


class MessagesMixin:
    """REST routes that create, edit and delete messages and threads."""

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


def _sid(value: Any) -> str | None:
    """Snowflakes arrive as strings or ints (discord.py sends ints); the stand-in keys everything by string."""
    return None if value is None else str(value)
