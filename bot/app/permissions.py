"""Who may run the admin commands, checked at run time.

An admin is a member with Manage Server (or Administrator) in the server the command is used in,
a member holding one of ``ADMIN_ROLE_IDS``, or a user listed in ``ADMIN_USER_IDS``. Admin
commands are also registered with ``default_permissions(manage_guild=True)`` so Discord hides them
from other members — but server owners can change that default, so every admin command checks
again here. Anyone else gets an ephemeral "not allowed" and nothing else happens (the attempt is
recorded in the admin log, as every admin action is).
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

log = logging.getLogger(__name__)

NOT_ALLOWED = (
    "Sorry, you're not allowed to use this command. It's for server admins "
    "(Manage Server permission, or a role or user the bot's operator configured)."
)


class NotAllowed(app_commands.CheckFailure):
    """Raised by the admin check after it has told the user; error handlers should stay quiet."""


def admin_reason(user, permissions: discord.Permissions | None, settings) -> str | None:
    """Why ``user`` is an admin ("user id", "role", "manage server"), or None if they are not."""
    if user is None:
        return None
    if getattr(user, "id", None) in set(settings.admin_user_ids or ()):
        return "user id"
    if permissions is not None and (permissions.manage_guild or permissions.administrator):
        return "manage server"
    admin_roles = set(settings.admin_role_ids or ())
    if admin_roles and admin_roles & role_ids(user):
        return "role"
    return None


def role_ids(user) -> set[int]:
    """The ids of the member's roles, as the interaction sent them.

    ``Member.roles`` drops roles missing from the cached guild (no roles cached yet, or a role
    created after start-up), so the raw ids the interaction carried are used as well.
    """
    ids = {int(i) for i in (getattr(user, "_roles", None) or ())}
    try:
        ids |= {role.id for role in (getattr(user, "roles", None) or ())}
    except Exception:  # a Member whose guild is not cached
        pass
    return ids


def interaction_permissions(interaction: discord.Interaction) -> discord.Permissions | None:
    """The member's permissions as Discord resolved them for this interaction (guilds only).

    Outside a server (DMs) nobody has Manage Server: only ``ADMIN_USER_IDS`` count there.
    """
    if interaction.guild_id is None:
        return None
    return getattr(interaction, "permissions", None)


def is_admin(interaction: discord.Interaction, settings) -> bool:
    return admin_reason(interaction.user, interaction_permissions(interaction), settings) is not None


async def deny(interaction: discord.Interaction, action: str) -> None:
    """Tell the user they are not allowed (ephemerally) and record the attempt."""
    user_id = getattr(interaction.user, "id", None)
    log.info("admin command /%s refused for user %s (not an admin)", action, user_id)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                NOT_ALLOWED, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                NOT_ALLOWED, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException:
        log.warning("could not tell user %s that /%s is not allowed", user_id, action)
    db = getattr(interaction.client, "db", None)
    if db is not None:
        await db.record_admin_action(
            user_id,
            action,
            {"guild_id": interaction.guild_id, "channel_id": interaction.channel_id},
            "denied",
        )


def admin_only():
    """An app command check: admins pass; anyone else is told "not allowed" and nothing runs."""

    async def predicate(interaction: discord.Interaction) -> bool:
        settings = interaction.client.settings
        if is_admin(interaction, settings):
            return True
        command = interaction.command
        await deny(interaction, command.name if command is not None else "admin")
        raise NotAllowed("not an admin")

    return app_commands.check(predicate)
