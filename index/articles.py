"""Reading article files: validation, metadata (header block or sidecar), stable ids.

Offsets everywhere in the project index into ``Article.text``: the file's bytes decoded as
UTF-8 (a leading byte-order mark removed), with no newline translation, so a citation's
``text[start:end]`` is exactly what the file holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = (".txt", ".md")
SIDECAR_SUFFIX = ".meta"
DEFAULT_MAX_ARTICLE_BYTES = 5_000_000
MAX_SIDECAR_BYTES = 64_000
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z _-]{0,40}):[ \t]*(.*?)[ \t]*$")
# Unicode category Cc (C0, DEL, C1) except the white space articles use: \t \n \f \r.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_HEX_OR_NUMBER = re.compile(r"^(?:[0-9a-f]{6,}|\d+)$", re.IGNORECASE)


class CorpusError(Exception):
    """The corpus as a whole cannot be used (missing directory, no readable article)."""


class ArticleError(Exception):
    """One file cannot be used as an article; the message says why."""


@dataclass(frozen=True)
class Article:
    doc_id: str  # path relative to the corpus dir, POSIX separators: stable across runs
    text: str
    body_start: int  # offset where the article body begins (after any metadata header)
    content_hash: str  # sha256 of the file bytes and its sidecar, if any
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.metadata.get("title") or readable_title(self.doc_id, self.text[self.body_start :])

    @property
    def source(self) -> str | None:
        return self.metadata.get("source") or None

    @property
    def published(self) -> str | None:
        return self.metadata.get("published") or None

    @property
    def body(self) -> str:
        return self.text[self.body_start :]


@dataclass
class CorpusLoad:
    articles: list[Article]
    skipped: list[tuple[str, str]]  # (doc_id, reason)


def parse_header(text: str) -> tuple[dict[str, str], int]:
    """Parse a leading ``Title:``/``Source:``/... block ended by a blank line.

    Returns the metadata (lower-case keys) and the offset where the body starts; a text whose
    first line is not ``Title: ...`` has no header.
    """
    if not text.startswith("Title:"):
        return {}, 0
    metadata: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        line_end = len(text) if newline == -1 else newline
        line = text[pos:line_end].rstrip("\r")
        next_pos = line_end + 1
        if not line.strip():
            return metadata, min(next_pos, len(text))
        match = _HEADER_LINE.match(line)
        if not match:
            # Not a header after all (a body line right after "Title:"): the body starts here.
            return metadata, pos
        metadata[match.group(1).strip().lower()] = match.group(2)
        pos = next_pos
    return metadata, len(text)


def readable_title(doc_id: str, body: str) -> str:
    """A title for a file without metadata: its name in words, else its first words."""
    stem = Path(doc_id).stem
    words = [w for w in re.split(r"[_\-\s.]+", stem) if w and not _HEX_OR_NUMBER.match(w)]
    if words:
        return " ".join(words).strip().capitalize()
    first_line = body.strip().split("\n", 1)[0]
    first_sentence = re.split(r"(?<=[.!?])\s", first_line, maxsplit=1)[0]
    if len(first_sentence) > 80:
        first_sentence = first_sentence[:80].rsplit(" ", 1)[0] + "…"
    return first_sentence or stem


def decode_article(data: bytes) -> str:
    """The text of an article file's bytes (UTF-8, byte-order mark dropped); raises ArticleError
    for binary data or another encoding, naming the first bad byte."""
    if b"\x00" in data[:8192]:
        raise ArticleError("binary file (contains NUL bytes), not a text article")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"not UTF-8 (invalid byte 0x{data[exc.start]:02x} at byte {exc.start}); save it as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    controls = len(_CONTROL_CHARS.findall(text, 0, 8192))
    if controls > 0.01 * min(len(text), 8192):
        raise ArticleError("binary file (too many control characters), not a text article")
    return text


def read_corpus_file(path: Path, corpus_dir: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file inside ``corpus_dir``, at most ``max_bytes`` of them.

    A link may point anywhere, and a special file may report any size (``/proc`` files say 0,
    devices never end): so a path that resolves outside the corpus directory, or is not a regular
    file once opened, is refused, and at most ``max_bytes + 1`` bytes are ever read, whatever
    ``stat()`` said. Raises ArticleError with the reason.
    """
    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(Path(corpus_dir).resolve()):
            raise ArticleError("a link to a file outside the corpus directory; not read")
        # O_NOFOLLOW: the resolved path's last part is not a link; if one was put there since, refuse
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ArticleError("not a regular file (a device, pipe or socket); not read")
            data = f.read(max_bytes + 1)
    except PermissionError:
        raise ArticleError("cannot be read: permission denied") from None
    except OSError as exc:
        raise ArticleError(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ArticleError(f"too large (over {max_bytes:,} bytes, the limit)")
    return data


def read_article(path: Path, corpus_dir: Path, max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES) -> Article:
    doc_id = path.relative_to(corpus_dir).as_posix()
    try:  # cheap early refusal of a big regular file (special files are caught while reading)
        size = path.stat().st_size
    except OSError:
        size = 0
    if size > max_bytes:
        raise ArticleError(f"too large ({size:,} bytes; the limit is {max_bytes:,})")
    data = read_corpus_file(path, corpus_dir, max_bytes)
    text = decode_article(data)
    metadata, body_start = parse_header(text)
    digest = hashlib.sha256(data)
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.is_file() or sidecar.is_symlink():
        try:
            sidecar_bytes = read_corpus_file(sidecar, corpus_dir, MAX_SIDECAR_BYTES)
            sidecar_meta, _ = parse_header(decode_article(sidecar_bytes).lstrip())
        except (OSError, ArticleError) as exc:
            log.warning("%s: ignoring unreadable metadata sidecar (%s)", doc_id, exc)
        else:
            digest.update(b"\0sidecar\0" + sidecar_bytes)
            metadata = {**metadata, **sidecar_meta}
    if not text[body_start:].strip():
        raise ArticleError(
            "empty file (no article text)" if not text.strip() else "no article text after the header"
        )
    return Article(doc_id, text, body_start, digest.hexdigest(), metadata)


def iter_article_paths(corpus_dir: Path) -> list[Path]:
    """Candidate article files: .txt/.md names, not hidden, not directories. Links and special
    files are among them, so that ``read_article`` refuses them with a reason (never silently)."""
    return sorted(
        p
        for p in corpus_dir.rglob("*")
        if p.suffix.lower() in ARTICLE_SUFFIXES
        and (p.is_symlink() or not p.is_dir())
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )


def load_corpus(corpus_dir: Path, max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES) -> CorpusLoad:
    """Read every .txt/.md article under ``corpus_dir``; bad files are skipped with a reason."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist (set CORPUS_DIR or create it)")
    articles: list[Article] = []
    skipped: list[tuple[str, str]] = []
    for path in iter_article_paths(corpus_dir):
        try:
            articles.append(read_article(path, corpus_dir, max_bytes))
        except ArticleError as exc:
            doc_id = path.relative_to(corpus_dir).as_posix()
            log.warning("skipping %s: %s", doc_id, exc)
            skipped.append((doc_id, str(exc)))
    if not articles:
        detail = f"; skipped: {', '.join(f'{d} ({r})' for d, r in skipped)}" if skipped else ""
        raise CorpusError(f"no readable .txt/.md articles in {corpus_dir}{detail}")
    return CorpusLoad(articles, skipped)
