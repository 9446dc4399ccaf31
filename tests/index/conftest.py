"""Fixtures of the index tests: a small generated corpus, the real MiniLM model counting what it embeds,
and a factory of libraries over that corpus with a temporary data dir (the index-store tests).
"""

from __future__ import annotations

import pytest

from index.library import Library, LibraryConfig
from tests.index.store_support import CountingModel, write_corpus


@pytest.fixture
def counting(embed_model):
    return CountingModel(embed_model)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus"
    write_corpus(path)
    return path


@pytest.fixture
def make_library(tmp_path, corpus, counting):
    def make(model=None):
        return Library(
            LibraryConfig(data_dir=tmp_path / "data", corpus_dir=corpus), embed_model=model or counting
        )

    return make


@pytest.fixture
def make_any_library(tmp_path, corpus, counting, store_url):
    """``make_library`` for tests that hold for both stores: files, then PostgreSQL."""

    def make(model=None):
        config = LibraryConfig(data_dir=tmp_path / "data", corpus_dir=corpus, database_url=store_url)
        return Library(config, embed_model=model or counting)

    return make
