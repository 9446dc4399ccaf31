"""Cogs, one per feature. Every module here with an ``async def setup(bot)`` is loaded at start."""
