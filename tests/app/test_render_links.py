"""Issue 15, item 3: whatever URL remains in an answer or a quoted span is shown, but is never a
clickable link (a zero-width space after its scheme)."""

from __future__ import annotations

import re

from bot.answering import Answer, Citation
from bot.app.render import ZWSP, render_answer


def test_urls_in_answers_quotes_and_titles_are_not_clickable():
    url = "https://evil.example/login?next=/"
    answer = Answer(
        f"What is at {url}?",
        f"The ministry pointed to {url} and http://other.example [1].",
        False,
        [Citation(1, "a.txt", f"Title {url}", "ftp://wire.example", None, f"See {url} now.", 0, 10)],
    )
    texts = []
    for message in render_answer(answer):
        for embed in message.embeds:
            texts += [embed.title or "", embed.description or "", embed.footer.text or ""]
            texts += [f"{f.name}\n{f.value}" for f in embed.fields]
    shown = "\n".join(texts)
    assert not re.search(r"[a-z]://", shown)  # no scheme directly followed by // anywhere
    assert f"https:{ZWSP}//evil.example/login" in shown  # still readable
    assert f"http:{ZWSP}//other.example" in shown and f"ftp:{ZWSP}//wire.example" in shown
