"""Issue 15, item 3: nothing is smuggled past the verifier — a link, address, mention or number its
cited span does not have rejects the answer, and so does a role swap, which the real embedding
model alone cannot tell from the source (the similarity is measured here to show it).

Names new with these fixes are imported inside the tests that use them, so that each test runs
(and fails) on the code before them, rather than the whole module failing to import."""

from __future__ import annotations

import numpy as np
import pytest

from bot.answering import Citation
from bot.answering.model import CheckFailure
from bot.answering.verify import SupportConfig, Verifier
from tests.answering.generation_support import PAUSE, generate, source_n

PRISONERS = (
    "On Friday, the Ukrainian side exchanged 150 prisoners of the Russian side, "
    "the Coordination Headquarters said."
)
ENVOY = "Russian envoy Kirill Dmitriev met Steve Witkoff in Riyadh, where the delegations agreed on a truce."


def source(n: int, quote: str, title: str = "Prisoner exchange") -> Citation:
    return Citation(n, f"doc{n}.txt", title, "Test Wire", "2025-05-23", quote, 0, len(quote))


@pytest.fixture(scope="module")
def verifier(embed_model):
    return Verifier(
        [source(1, PRISONERS), source(2, ENVOY, "Riyadh talks")], embed_model.get_text_embedding_batch
    )


def cosine(embed_model, a: str, b: str) -> float:
    x, y = np.asarray(embed_model.get_text_embedding_batch([a, b]))
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


@pytest.mark.parametrize(
    "original, swapped",
    [
        (
            PRISONERS,
            PRISONERS.replace("Ukrainian", "@").replace("Russian", "Ukrainian").replace("@", "Russian"),
        ),
        (
            "Putin accepted a 30-day pause in energy infrastructure attacks, following Trump’s proposal.",
            "Trump accepted a 30-day pause in energy infrastructure attacks.",
        ),
    ],
)
def test_role_swaps_look_alike_to_the_embedding_model(embed_model, original, swapped):
    """Why a check of its own is needed: who does what barely moves MiniLM's vector."""
    assert cosine(embed_model, swapped, original) > 0.8


@pytest.mark.parametrize(
    "sentence",
    [
        "On Friday, the Russian side exchanged 150 prisoners of the Ukrainian side [1].",
        "The Russian side exchanged prisoners of the Ukrainian side [1].",
    ],
)
def test_a_role_swap_is_rejected(verifier, sentence):
    verdict = verifier.check(sentence)
    assert verdict.action == "reject" and verdict.failure is CheckFailure.UNSUPPORTED
    assert "ties" in verdict.reason and "Russian" in verdict.reason
    assert verdict.similarity > 0.8  # the embedding alone would have let it through


@pytest.mark.parametrize(
    "sentence",
    [
        "On Friday, the Ukrainian side exchanged 150 prisoners of the Russian side [1].",
        "The Ukrainian side exchanged 150 prisoners of the Russian side, the Coordination Headquarters said [1].",
        "Kirill Dmitriev met Steve Witkoff in Riyadh, where the delegations agreed on a truce [2].",
        "The Russian envoy Kirill Dmitriev met Steve Witkoff in Riyadh [2].",
    ],
)
def test_the_faithful_versions_still_pass(verifier, sentence):
    assert verifier.check(sentence).ok, verifier.check(sentence).reason


def test_the_seed_role_swap_is_rejected_with_the_real_index(library, prepared):
    n = source_n(prepared, PAUSE)
    swapped = f"Trump accepted a 30-day pause in energy infrastructure attacks [{n}]."
    streamed, answer, _ = generate(library, swapped)
    assert answer.backend == "extractive" and "ties “accepted” to “Trump”" in answer.fallback_reason
    assert not streamed


@pytest.mark.parametrize(
    "tail, found",
    [
        ("said at https://evil.example", "https://evil.example"),
        ("said at evil.example", "evil.example"),
        ("said, writing to press@evil.example", "press@evil.example"),
        ("said @everyone", "@everyone"),
        ("said <@123456789012345678>", "<@123456789012345678>"),
        ("said at [the site](http://evil.example/x)", "http://evil.example/x"),
    ],
)
def test_a_link_address_or_mention_the_span_lacks_rejects_the_answer(verifier, tail, found):
    verdict = verifier.check(f"The Coordination Headquarters {tail} [1].")
    assert verdict.action == "reject" and verdict.failure is CheckFailure.FOREIGN_LINK
    assert found in verdict.reason


def test_a_link_in_the_cited_span_may_be_repeated(embed_model):
    quote = "The ministry published the list at mod.gov.ua on Friday."
    verifier = Verifier([source(1, quote)], embed_model.get_text_embedding_batch)
    assert verifier.check("The ministry published the list at mod.gov.ua on Friday [1].").ok


def test_a_number_the_span_lacks_rejects_the_answer(verifier):
    verdict = verifier.check("On Friday, the Ukrainian side exchanged 151 prisoners of the Russian side [1].")
    assert verdict.action == "reject" and "number 151" in verdict.reason


def test_links_are_found_but_abbreviations_are_not():
    from bot.answering.facts import links_in

    assert links_in("U.S. officials met at 5 p.m., e.g. in Kyiv; see www.example.org or x.com.") == [
        "www.example.org",
        "x.com",
    ]


def test_a_link_appended_to_a_true_sentence_never_reaches_the_answer(library, prepared):
    """The issue's example: one link in a long, otherwise faithful sentence."""
    n = source_n(prepared, PAUSE)
    text = f"Putin accepted a 30-day pause in energy infrastructure attacks, following Trump’s proposal, as reported at https://evil.example [{n}]."
    streamed, answer, _ = generate(library, text)
    assert answer.backend == "extractive" and "evil.example" not in answer.answer and not streamed
    # the link check does not depend on the support test's thresholds
    _, loose_answer, _ = generate(library, text, support=SupportConfig(min_overlap=0, strict_facts=False))
    assert loose_answer.backend == "extractive" and "link" in loose_answer.fallback_reason
