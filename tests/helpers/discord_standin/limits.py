"""What Discord checks on a message: who it would ping (:func:`would_ping`) and the size and shape limits
of content, embeds and components (:func:`validate_message_body`, reported as Discord's nested
``50035 Invalid Form Body`` errors by :class:`FormErrors`).
"""

from __future__ import annotations

import re
from typing import Any

from tests.helpers.discord_standin.models import MESSAGE_FLAG_COMPONENTS_V2

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
