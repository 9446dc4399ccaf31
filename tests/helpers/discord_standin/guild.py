"""The stand-in's fake guild as Discord payloads: users, roles, channels, members and their permissions,
the guild and the application (a mixin of :class:`~tests.helpers.discord_standin.server.DiscordStandIn`).
"""

from __future__ import annotations

from tests.helpers.discord_standin.models import (
    EVERYONE_PERMISSIONS,
    P_ADMINISTRATOR,
    P_ALL,
    P_MANAGE_GUILD,
    P_MANAGE_MESSAGES,
    P_MENTION_EVERYONE,
    P_SEND_MESSAGES,
)


class GuildMixin:
    """Builds and describes the guild of ``self.world``."""

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
