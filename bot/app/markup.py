"""What Discord adds to a typed question — user/role/channel mentions, custom emoji, markdown,
block quotes — is how it was typed, not what it asks: removed before the question is checked."""

from __future__ import annotations

import re

_DISCORD_MARKUP = re.compile(r"<@[!&]?\d+>|<#\d+>|<a?:\w+:\d+>|@(?:everyone|here)\b|[*_`~|]+|^\s*>+", re.M)


def strip_markup(text: str) -> str:
    return _DISCORD_MARKUP.sub(" ", text) if isinstance(text, str) else text
