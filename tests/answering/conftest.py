"""Fixtures of the answering tests: the seed index's library and the prepared sources and prompt for
:data:`~tests.answering.generation_support.QUESTION` (built once per test module).
"""

from __future__ import annotations

import pytest

from bot.answering.generative import GenerativeAnswerer
from tests.answering.generation_support import QUESTION, Scripted


@pytest.fixture(scope="module")
def library(seed_answerer):
    return seed_answerer.library


@pytest.fixture(scope="module")
def prepared(library):
    return GenerativeAnswerer(library, Scripted("")).prepare(QUESTION)
