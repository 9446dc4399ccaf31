"""Fixtures of the app tests: ``env``, the bot with its admin cog over a real (tiny) index of
:data:`~tests.app.admin_support.ARTICLES` and a real database (the admin-command tests).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.cogs.admin import AdminCog
from bot.app.db import Database
from bot.settings import Settings
from tests.app.admin_support import ADMIN_ROLE, ADMIN_USER, ARTICLES, SlowEmbed, article


@pytest.fixture
async def env(tmp_path, embed_model):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, body) in ARTICLES.items():
        (corpus / name).write_text(article(title, body), "utf-8")
    settings = Settings(
        _env_file=None,
        corpus_dir=corpus,
        data_dir=tmp_path / "data",
        admin_guild_ids=[100],  # the fakes' server: Manage Server and roles count only in admin servers
        admin_role_ids=[ADMIN_ROLE],
        admin_user_ids=[ADMIN_USER],
        max_attachment_bytes=5_000,
    )
    model = SlowEmbed(embed_model)
    service = AnswerService.from_settings(settings, model)
    service.library.reindex()
    bot = NegotiationsBot(settings, service=service, db=Database(settings.database_path), sync_commands=False)
    await bot.db.open()
    cog = AdminCog(bot)
    cog.progress_interval = 0.05
    yield SimpleNamespace(
        bot=bot, cog=cog, corpus=corpus, settings=settings, library=service.library, model=model
    )
    model.hold.set()
    await bot.db.close()
    service.close()
