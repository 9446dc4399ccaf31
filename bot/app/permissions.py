"""Who may run the admin commands, checked at run time, in ONE place (``admin_only``).

The bot serves one shared corpus to every server it is in, so rights over that corpus cannot come
from any server's own permissions: the owner of any server that invites the bot has Manage
Server there. Two levels (docs/SECURITY.md):

- **Trusted** (``is_admin``; every command that changes the corpus, re-indexes, or shows figures
  of all servers): a user listed in ``ADMIN_USER_IDS`` anywhere, or — only in a server listed in
  ``ADMIN_GUILD_IDS`` — a member with Manage Server (or Administrator) or one of
  ``ADMIN_ROLE_IDS``. With no ``ADMIN_GUILD_IDS``, only ``ADMIN_USER_IDS``.
- **Server admin** (``is_server_admin``; ``/stats``): the above, or a member with Manage Server
  or an admin role in the server the command is used in. Outside the admin servers, /stats
  shows that server's own figures only (``stats_scope``).

Admin commands are also registered with ``default_permissions(manage_guild=True)`` so Discord
hides them from other members — but server owners can change that default, so every admin
command checks again here. Anyone else gets an ephemeral "not allowed" and nothing else happens
(the attempt is recorded in the admin log, as every admin action is). New admin commands get all
of this by using ``@admin_only()``.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

log = logging.getLogger(__name__)

NOT_ALLOWED = (
    "Sorry, you're not allowed to use this command here. It's for the bot's admins: members with "
    "Manage Server (or a role the bot's operator configured) in the bot's admin servers, or users "
    "the operator configured."
)


class NotAllowed(app_commands.CheckFailure):
    """Raised by the admin check after it has told the user; error handlers should stay quiet."""


def admin_reason(user, permissions: discord.Permissions | None, settings) -> str | None:
    """Why ``user`` is an admin of the server ``permissions`` were resolved in ("user id", "role",
    "manage server"), or None. Whether that server is trusted is ``trusted_reason``'s business."""
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


def is_admin_guild(guild_id: int | None, settings) -> bool:
    return guild_id is not None and guild_id in set(getattr(settings, "admin_guild_ids", None) or ())


def trusted_reason(interaction: discord.Interaction, settings) -> str | None:
    """Why the user may act on the shared corpus here, or None: ADMIN_USER_IDS anywhere; server
    rights (Manage Server, admin roles) only in ADMIN_GUILD_IDS."""
    reason = admin_reason(interaction.user, interaction_permissions(interaction), settings)
    if reason == "user id" or (reason is not None and is_admin_guild(interaction.guild_id, settings)):
        return reason
    return None


def is_admin(interaction: discord.Interaction, settings) -> bool:
    """Trusted with the shared corpus (and with figures of every server)."""
    return trusted_reason(interaction, settings) is not None


def is_server_admin(interaction: discord.Interaction, settings) -> bool:
    """An admin of the server the command is used in (trusted or not)."""
    return admin_reason(interaction.user, interaction_permissions(interaction), settings) is not None


def stats_scope(interaction: discord.Interaction, settings) -> int | None:
    """Whose figures /stats may show: None (every server) to the trusted in an admin server or
    to ADMIN_USER_IDS, else the asking server's id."""
    return None if is_admin(interaction, settings) else interaction.guild_id


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


def admin_only(*, any_server: bool = False):
    """An app command check: the trusted admins (``is_admin``) pass — with ``any_server``, any
    server's own admins too (``is_server_admin``; the command must then limit itself to that
    server, as /stats does with ``stats_scope``). Anyone else is told "not allowed", the attempt
    is recorded, and nothing runs."""

    async def predicate(interaction: discord.Interaction) -> bool:
        settings = interaction.client.settings
        if (is_server_admin if any_server else is_admin)(interaction, settings):
            return True
        command = interaction.command
        await deny(interaction, command.name if command is not None else "admin")
        raise NotAllowed("not an admin")

    return app_commands.check(predicate)
