"""``Answer`` → Discord messages (embeds), within every Discord limit. Pure functions.

Layout: the first embed's title is the question, its description the answer with its ``[n]``
markers; then one field per source: ``[n] title`` and the quoted span (trimmed with an ellipsis
if long) with the report's date and source (the date first, so trimming never hides it). The footer says which backend produced the answer. An answer too
long for one embed continues in further embeds, and past the 6,000 characters one message may
carry, in further messages; it is split between sentences (after a citation marker), never
inside one, and a single over-long sentence is split at a space, keeping its marker at its end.

Text from users and articles is neutralised: ``@`` is followed by a zero-width space (no
``@everyone``/``@here`` highlight), markdown characters are backslash-escaped, which
Discord displays as the plain character (no code fences, no ``<@id>`` mentions, no masked links,
no headings), and a zero-width space after a link's ``scheme:`` keeps ``https://…`` from being
made clickable (the address stays readable; a model's answer cannot carry a working link, and
neither can an article's quote). Messages are also sent with ``AllowedMentions.none()``; this is
the second guard.

Lengths are counted in UTF-16 code units (an emoji counts 2), which is never less than the
count Discord applies, so "within limits" here is within limits there.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import discord

from bot.answering.model import CheckFailure, Fallback, FallbackKind

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBED_TOTAL_MAX = (
    6000  # title + description + field names/values + footer + author, summed over a message's embeds
)
EMBEDS_MAX = 10

QUOTE_MAX = 420  # a quoted span longer than this (after escaping) is trimmed with an ellipsis
ELLIPSIS = "…"
ZWSP = "\u200b"

COLOUR_ANSWER = discord.Colour.blurple()
COLOUR_GENERATED = discord.Colour.green()
COLOUR_REFUSED = discord.Colour.light_grey()

REFUSAL_HINT = "Try rephrasing, or ask about something the indexed articles cover."

BACKEND_NAMES = {
    "extractive": "extractive",
    "openai": "OpenAI-compatible model",
    "llamacpp": "local model (llama.cpp)",
}


def dlen(text: str) -> int:
    """Length as Discord may count it: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


# ---------------------------------------------------------------- neutralising

# Characters that would start markdown, a mention (<@id>, <#id>, <t:…>), a masked link
# ([text](url)) or a code span/fence; each is displayed as itself. Heading, list and quote
# markers (# - + > 1.) are escaped only at the start of a line, where they mean something.
_ESCAPED = frozenset("\\*_~|`<(")
_LINE_START_CHARS = frozenset("#>-+.")
_LINE_START = re.compile(r"(^|\n)([ \t]*)(?:([#>+-])|(\d+)\.)")
_CONTROL = {"Cc"}
_LINK_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=/)")  # Discord links scheme:// and scheme:/


def _escape_char(ch: str) -> str:
    if ch in _ESCAPED:
        return "\\" + ch
    if ch == "@":
        return "@" + ZWSP
    return ch


def _cost(ch: str) -> int:
    """An upper bound of the escaped length of ``ch`` (line-start escapes and an unlinking
    zero-width space after a colon included)."""
    return dlen(_escape_char(ch)) + (1 if ch in _LINE_START_CHARS or ch == ":" else 0)


def unlink(text: str) -> str:
    """``https://x`` → ``https:\u200b//x``: shown the same, never made a clickable link."""
    return _LINK_SCHEME.sub(lambda m: m.group(1) + ":" + ZWSP, text)


def clean_text(text: str, *, single_line: bool = False) -> str:
    """Drop control characters (keeping newlines unless ``single_line``) and tidy whitespace."""
    text = "".join(
        " " if ch in "\t\r\n" and (single_line or ch != "\n") else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch) not in _CONTROL
    )
    if single_line:
        return " ".join(text.split())
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _escape_line_start(match: re.Match) -> str:
    head = match.group(1) + match.group(2)
    return head + ("\\" + match.group(3) if match.group(3) else match.group(4) + "\\.")


def escape(text: str) -> str:
    """Markdown- and mention-safe text that Discord displays exactly as ``text``."""
    return unlink(_LINE_START.sub(_escape_line_start, "".join(_escape_char(ch) for ch in text)))


def neutralize_mentions(text: str) -> str:
    """For places that show little or no markdown (embed titles, thread names): no @-highlights,
    no <@id>, and no backticks (shown as the look-alike ˋ) that could open a code span."""
    text = unlink(text.replace("@", "@" + ZWSP).replace("`", "ˋ"))
    return re.sub(r"<(?=[@#:at]|/)", "<" + ZWSP, text)


def _prefix_fitting(text: str, budget: int, cost=_cost) -> int:
    """How many characters of ``text`` fit in ``budget`` once escaped (by ``cost``)."""
    used = 0
    for i, ch in enumerate(text):
        used += cost(ch)
        if used > budget:
            return i
    return len(text)


def _cut(text: str, limit: int, cost=_cost) -> str:
    """``text`` trimmed (raw, unescaped) so that it fits ``limit`` with an ellipsis; at a word
    boundary when there is one in the last third."""
    if sum(cost(ch) for ch in text) <= limit:
        return text
    keep = _prefix_fitting(text, limit - dlen(ELLIPSIS), cost)
    space = text.rfind(" ", 0, keep + 1)
    if space > keep * 2 // 3:
        keep = space
    return text[:keep].rstrip() + ELLIPSIS


def fit_escaped(text: str, limit: int) -> str:
    """Escaped ``text`` within ``limit`` (trimmed with an ellipsis if needed)."""
    return escape(_cut(text, limit))


def _plain_cost(ch: str) -> int:
    return dlen(ch) + (1 if ch in "@<:" else 0)  # what neutralize_mentions may add


def fit_plain(text: str, limit: int) -> str:
    """Mention-neutralised single-line ``text`` within ``limit`` (titles, field names)."""
    return neutralize_mentions(_cut(clean_text(text, single_line=True), limit, _plain_cost))


def render_notice(text: str) -> str:
    """A message of ours (errors, rate-limit notices) for ``content``: displayed as written."""
    return escape(_cut(clean_text(text), CONTENT_MAX))


# ---------------------------------------------------------------- answer text → sentence units

_MARKERS = re.compile(r"(?:\s*\[\d+\])+")


def answer_units(text: str) -> list[str]:
    """The answer cut after each group of citation markers (and the punctuation glued to it):
    the places where it may be split without separating a sentence from its citation."""
    units: list[str] = []
    start = 0
    for match in _MARKERS.finditer(text):
        if match.start() < start:
            continue
        end = match.end()
        while end < len(text) and not text[end].isspace():
            end += 1
        units.append(text[start:end].strip())
        start = end
    units.append(text[start:].strip())
    return [unit for unit in units if unit]


def _split_unit(unit: str, budget: int) -> list[str]:
    """An over-long unit in pieces whose escaped form fits ``budget``: at spaces where possible,
    never inside a ``[n]`` marker."""
    pieces = []
    while sum(_cost(ch) for ch in unit) > budget:
        keep = _prefix_fitting(unit, budget)
        space = unit.rfind(" ", 0, keep + 1)
        if space > keep // 2:
            keep = space
        else:
            for marker in re.finditer(r"\[\d+\]", unit):
                if marker.start() < keep < marker.end():
                    keep = marker.start()
        keep = max(keep, 1)
        pieces.append(unit[:keep].rstrip())
        unit = unit[keep:].lstrip()
    if unit:
        pieces.append(unit)
    return [p for p in pieces if p]


def split_answer(text: str, budget: int = DESCRIPTION_MAX) -> list[str]:
    """Escaped description chunks, each within ``budget``, split only between units."""
    chunks: list[str] = []
    current = ""
    for unit in answer_units(clean_text(text)):
        for piece in _split_unit(unit, budget):
            escaped = escape(piece)
            joined = f"{current} {escaped}" if current else escaped
            if dlen(joined) <= budget:
                current = joined
            else:
                chunks.append(current)
                current = escaped
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------- sources


def source_field(citation) -> tuple[str, str]:
    """``([n] Title, > quote…\\nsource · date)`` within the field limits."""
    name = fit_escaped(
        clean_text(f"[{citation.n}] {citation.title or citation.doc or 'Untitled'}", single_line=True),
        FIELD_NAME_MAX,
    )
    # The report's date first: a long outlet name is what gets trimmed, never the date.
    day = clean_text(citation.published or "", single_line=True)[:40]
    source = clean_text(citation.source or "", single_line=True)
    details = " · ".join(part for part in (day, source) if part)
    detail_line = fit_escaped(details, 200) if details else ""
    if not detail_line and citation.doc:
        detail_line = fit_escaped(clean_text(citation.doc, single_line=True), 200)
    quote_budget = min(QUOTE_MAX, FIELD_VALUE_MAX - dlen(detail_line) - 8)
    quote = fit_escaped(clean_text(citation.quote, single_line=True), quote_budget - 4)
    value = f"> “{quote}”" + (f"\n{detail_line}" if detail_line else "")
    return name, value


# ---------------------------------------------------------------- messages


@dataclass
class RenderedMessage:
    embeds: list[discord.Embed] = field(default_factory=list)
    content: str | None = None

    def total(self) -> int:
        return sum(embed_total(e) for e in self.embeds)


def embed_total(embed: discord.Embed) -> int:
    """The characters Discord counts toward the 6,000 per message, in UTF-16 units."""
    parts = [embed.title or "", embed.description or "", embed.footer.text or "", embed.author.name or ""]
    for f in embed.fields:
        parts += [f.name or "", f.value or ""]
    return sum(dlen(p) for p in parts)


_HOW_IT_FAILED = {
    CheckFailure.INVALID_MARKER: "cites a source it was not given",
    CheckFailure.FAKE_QUOTE: "quotes words its source does not contain",
    CheckFailure.UNSUPPORTED: "is not supported by the source it cites",
    CheckFailure.FOREIGN_LINK: "adds a link or mention its source does not have",
}


def public_reason(fallback: Fallback) -> str:
    """Why a generated answer was not used, as users see it. A rejected generation's detail
    quotes the model's unverified sentence (kept in the database, the log and ``ask --json``);
    users are told only which sentence failed which check, so nothing unverified is shown."""
    if fallback.kind is not FallbackKind.REJECTED:
        return str(fallback)
    how = _HOW_IT_FAILED.get(fallback.check, "failed verification")
    return (
        f"rejected: sentence {fallback.sentence} {how}"
        if fallback.sentence
        else f"rejected: a sentence {how}"
    )


def footer_text(answer, answer_id: int | None = None, partial: bool = False) -> str:
    backend = getattr(answer, "backend", None) or "extractive"
    fallback = getattr(answer, "fallback", None)
    if partial:
        text = f"Writing with the {BACKEND_NAMES.get(backend, backend)}… only checked sentences are shown"
    elif fallback is not None:
        reason = clean_text(public_reason(fallback), single_line=True)
        text = f"Extractive answer, quoted from the articles (the model's answer was not used: {reason})"
    elif backend == "extractive":
        text = "Extractive answer: every sentence is quoted from the articles"
    else:
        text = f"Written by the {BACKEND_NAMES.get(backend, backend)}; every sentence checked against the source it cites"
    if answer_id is not None:
        text += f" · answer #{answer_id}"
    return fit_plain(text, 300)


def render_answer(answer, *, answer_id: int | None = None, partial: bool = False) -> list[RenderedMessage]:
    """One or more messages carrying ``answer``; attach the feedback view to the last one."""
    title = fit_plain(answer.question, TITLE_MAX) if answer.question else None
    footer = footer_text(answer, answer_id, partial)
    if answer.refused:
        description = split_answer(answer.answer, DESCRIPTION_MAX - 200)[:1] or [""]
        embed = discord.Embed(
            title=title, description=f"{description[0]}\n\n*{REFUSAL_HINT}*", colour=COLOUR_REFUSED
        )
        embed.set_footer(text=footer)
        return [RenderedMessage([embed])]

    colour = COLOUR_ANSWER if (getattr(answer, "backend", "extractive") == "extractive") else COLOUR_GENERATED
    budget = EMBED_TOTAL_MAX - dlen(footer)  # every message keeps room for the footer
    messages: list[RenderedMessage] = [RenderedMessage()]
    totals = [0]

    def new_embed(title: str | None, description: str | None) -> discord.Embed:
        embed = discord.Embed(title=title, description=description, colour=colour)
        size = embed_total(embed)
        if len(messages[-1].embeds) >= EMBEDS_MAX or totals[-1] + size > budget:
            messages.append(RenderedMessage())
            totals.append(0)
        messages[-1].embeds.append(embed)
        totals[-1] += size
        return embed

    chunks = split_answer(answer.answer, DESCRIPTION_MAX) or [""]
    first_budget = DESCRIPTION_MAX if title is None else min(DESCRIPTION_MAX, budget - dlen(title))
    if dlen(chunks[0]) > first_budget:
        chunks = split_answer(answer.answer, first_budget)
    new_embed(title, chunks[0] or (None if title else ELLIPSIS))
    for chunk in chunks[1:]:
        new_embed(None, chunk)

    for i, citation in enumerate(answer.citations):
        name, value = source_field(citation)
        size = dlen(name) + dlen(value)
        embed = messages[-1].embeds[-1]
        if len(embed.fields) >= FIELDS_MAX or totals[-1] + size > budget:
            heading = "Sources" if i == 0 else "Sources (continued)"
            if len(messages[-1].embeds) >= EMBEDS_MAX or totals[-1] + dlen(heading) + size > budget:
                messages.append(RenderedMessage())
                totals.append(0)
            embed = discord.Embed(title=heading, colour=colour)
            messages[-1].embeds.append(embed)
            totals[-1] += dlen(heading)
        embed.add_field(name=name, value=value, inline=False)
        totals[-1] += size

    messages[-1].embeds[-1].set_footer(text=footer)
    return [m for m in messages if m.embeds]


def check_limits(messages: list[RenderedMessage]) -> list[str]:
    """Every Discord limit the messages break (empty when they are all fine)."""
    problems = []
    for i, message in enumerate(messages):
        if message.content is not None and dlen(message.content) > CONTENT_MAX:
            problems.append(f"message {i}: content {dlen(message.content)} > {CONTENT_MAX}")
        if len(message.embeds) > EMBEDS_MAX:
            problems.append(f"message {i}: {len(message.embeds)} embeds > {EMBEDS_MAX}")
        if message.total() > EMBED_TOTAL_MAX:
            problems.append(f"message {i}: embeds total {message.total()} > {EMBED_TOTAL_MAX}")
        if not message.embeds and not message.content:
            problems.append(f"message {i}: empty")
        for j, embed in enumerate(message.embeds):
            where = f"message {i} embed {j}"
            for label, value, limit in (
                ("title", embed.title, TITLE_MAX),
                ("description", embed.description, DESCRIPTION_MAX),
                ("footer", embed.footer.text, FOOTER_MAX),
                ("author", embed.author.name, AUTHOR_MAX),
            ):
                if value is not None and dlen(value) > limit:
                    problems.append(f"{where}: {label} {dlen(value)} > {limit}")
            if len(embed.fields) > FIELDS_MAX:
                problems.append(f"{where}: {len(embed.fields)} fields > {FIELDS_MAX}")
            for f in embed.fields:
                if not f.name or dlen(f.name) > FIELD_NAME_MAX:
                    problems.append(f"{where}: field name {dlen(f.name or '')} not in 1..{FIELD_NAME_MAX}")
                if not f.value or dlen(f.value) > FIELD_VALUE_MAX:
                    problems.append(f"{where}: field value {dlen(f.value or '')} not in 1..{FIELD_VALUE_MAX}")
            if not (embed.title or embed.description or embed.fields):
                problems.append(f"{where}: empty embed")
    return problems
