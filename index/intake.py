"""Articles added by admins (``/add-article``, files handed to the CLI): validation and a safe,
atomic save into the corpus directory. Messages are plain text, for any front end.

An upload is accepted only if the indexer would accept it too: a .txt/.md file, at most
``max_bytes``, UTF-8, not binary, with article text (after an optional ``Title:``/``Source:``/
``Published:`` header block). Its name is made safe before anything touches the disk: no
directories, no absolute paths, no hidden files, Unicode normalised (NFKC, so look-alike slashes
and dots are caught too), only ``.txt``/``.md``. An existing article is never overwritten unless
the caller says so (after the admin confirmed); the file is written to a hidden temporary file in
the corpus dir and moved into place in one step, so the indexer never sees half a file.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import os
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from index.articles import (
    ARTICLE_SUFFIXES,
    SIDECAR_SUFFIX,
    ArticleError,
    decode_article,
    parse_header,
    readable_title,
)
from index.files import fsync_dir

MAX_NAME_CHARS = 100
_UNSAFE_CHARS = re.compile(r"[^\w\-. ()]+")  # \w is Unicode-aware: letters and digits of any script
_SEPARATORS = ("/", "\\")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")
# Leading bytes of formats people attach by mistake, for a clearer message than "binary".
_MAGIC = {
    b"%PDF": "a PDF",
    b"PK\x03\x04": "a ZIP/Office document (.docx, .odt, ...)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"{\\rtf": "an RTF document",
    b"\xd0\xcf\x11\xe0": "an old Office document (.doc)",
}


class UploadRejected(ValueError):
    """The upload cannot be added; the message says why and what to do (shown to the admin)."""


@dataclass(frozen=True)
class ArticleUpload:
    """A validated upload, ready to be saved."""

    filename: str  # the safe name it will have in the corpus dir
    data: bytes
    metadata: dict[str, str]
    title: str
    body_chars: int
    warnings: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class SaveOutcome(enum.Enum):
    SAVED = "saved"  # a new article
    REPLACED = "replaced"  # an existing article, replaced after confirmation
    EXISTS = "exists"  # an article of that name exists: nothing written, ask to confirm
    UNCHANGED = "unchanged"  # the same name already holds exactly these bytes: nothing to do


@dataclass
class SaveResult:
    outcome: SaveOutcome
    filename: str  # the file's name in the corpus dir (the existing one's, for a case variant)
    path: Path
    message: str
    warnings: list[str] = field(default_factory=list)

    @property
    def needs_confirmation(self) -> bool:
        return self.outcome is SaveOutcome.EXISTS

    @property
    def changed_corpus(self) -> bool:
        return self.outcome in (SaveOutcome.SAVED, SaveOutcome.REPLACED)


def safe_filename(name: str) -> str:
    """The name an uploaded file gets in the corpus dir; raises UploadRejected if it cannot be made safe.

    Paths are refused rather than reduced to their last part: ``../../x.txt`` is an attack or a
    mistake, and saving it as ``x.txt`` would hide that.
    """
    if not isinstance(name, str) or not name.strip():
        raise UploadRejected("the file has no name")
    normalised = unicodedata.normalize("NFKC", name).strip()
    if any(sep in normalised for sep in _SEPARATORS):
        raise UploadRejected(
            f"the file name {_show(name)} contains a path; upload a plain file name like “talks.txt”"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in normalised):
        raise UploadRejected(f"the file name {_show(name)} contains control or invisible characters")
    if normalised.startswith("."):
        raise UploadRejected(
            f"the file name {_show(name)} is hidden (starts with a dot); hidden files are not indexed"
        )
    stem, dot, suffix = normalised.rpartition(".")
    if not dot or "." + suffix.lower() not in ARTICLE_SUFFIXES:
        kinds = " or ".join(ARTICLE_SUFFIXES)
        raise UploadRejected(f"only {kinds} files can be added (got {_show(name)})")
    stem = _UNSAFE_CHARS.sub("_", stem)
    stem = re.sub(r"\s+", " ", stem)
    stem = re.sub(r"_{2,}", "_", stem).strip(" ._-")
    if not stem:
        raise UploadRejected(
            f"the file name {_show(name)} has no usable characters; rename it, e.g. “talks.txt”"
        )
    if stem.lower().split(".")[0] in _RESERVED:
        stem = f"{stem}_article"
    suffix = "." + suffix.lower()
    if len(stem) + len(suffix) > MAX_NAME_CHARS:
        stem = stem[: MAX_NAME_CHARS - len(suffix)].rstrip(" ._-")
    return stem + suffix


def check_size(size: int, max_bytes: int) -> None:
    """Refuse by size before downloading anything (Discord reports the attachment's size)."""
    if size <= 0:
        raise UploadRejected("the file is empty")
    if size > max_bytes:
        raise UploadRejected(f"the file is too big ({_size(size)}; the limit is {_size(max_bytes)})")


def check_upload(filename: str, data: bytes, max_bytes: int) -> ArticleUpload:
    """Validate an uploaded article; raises UploadRejected with a message for the admin."""
    safe = safe_filename(filename)
    check_size(len(data), max_bytes)
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            raise UploadRejected(f"the file is {kind}, not plain text; save it as UTF-8 .txt or .md")
    try:
        text = decode_article(data)  # the indexer's own rules: UTF-8, no NUL bytes, few control characters
    except ArticleError as exc:
        raise UploadRejected(f"the file is {exc}") from None
    if not text.strip():
        raise UploadRejected("the file is empty (only white space)")
    metadata, body_start = parse_header(text)
    body = text[body_start:]
    if not body.strip():
        raise UploadRejected("the file has a metadata header but no article text after it")
    warnings = []
    if "title" in metadata and not metadata["title"].strip():
        warnings.append("the Title: line is empty; the title is taken from the file name")
        metadata = {k: v for k, v in metadata.items() if k != "title"}
    published = metadata.get("published", "").strip()
    if published and not _DATE.match(published):
        warnings.append(f"Published: {published!r} is not a date like 2025-03-18; it is shown as written")
    if not metadata:
        warnings.append(
            "no metadata header (Title:, Source:, Published:); the title is taken from the file name"
        )
    title = metadata.get("title") or readable_title(safe, body)
    return ArticleUpload(safe, data, metadata, title, len(body.strip()), tuple(warnings))


def save_upload(upload: ArticleUpload, corpus_dir: Path, replace: bool = False) -> SaveResult:
    """Save into the corpus dir atomically; an existing article is replaced only if ``replace``.

    Names that differ only in case or Unicode form count as the same article (the existing
    file's name is kept), so ``Talks.txt`` does not silently sit beside ``talks.txt``.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise UploadRejected("the corpus directory does not exist; check CORPUS_DIR")
    existing = _existing_name(corpus_dir, upload.filename)
    name = existing or upload.filename
    target = corpus_dir / name
    base = corpus_dir.resolve()
    if Path(os.path.normpath(base / name)).parent != base:  # belt and braces: safe names have no separators
        raise UploadRejected(f"refusing to write outside the corpus directory ({_show(name)})")
    warnings = list(upload.warnings)
    if existing:
        try:
            same = target.is_file() and target.read_bytes() == upload.data
        except OSError:
            same = False
        if same:
            return SaveResult(
                SaveOutcome.UNCHANGED,
                name,
                target,
                f"“{name}” already holds exactly this text; nothing to do.",
                warnings,
            )
        if not target.is_file() or target.is_symlink():
            raise UploadRejected(
                f"“{name}” exists in the corpus directory and is not a regular file; it cannot be replaced this way"
            )
        if not replace:
            return SaveResult(
                SaveOutcome.EXISTS,
                name,
                target,
                f"An article named “{name}” already exists. Confirm to replace it with the uploaded file.",
                warnings,
            )
    if (corpus_dir / (name + SIDECAR_SUFFIX)).exists():
        warnings.append(
            f"“{name}{SIDECAR_SUFFIX}” exists beside it; its metadata overrides the file's header"
        )

    # hidden: the indexer never reads it; left over by a crash, remove_stale_uploads deletes it
    tmp = corpus_dir / UPLOAD_TMP_GLOB.replace("*", uuid.uuid4().hex)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(upload.data)
            f.flush()
            os.fsync(f.fileno())
        if existing and replace:
            os.replace(tmp, target)
            outcome = SaveOutcome.REPLACED
        else:
            try:
                os.link(tmp, target)  # fails if the name appeared meanwhile: never overwrites
            except FileExistsError:
                return SaveResult(
                    SaveOutcome.EXISTS,
                    name,
                    target,
                    f"An article named “{name}” was just added by someone else. Confirm to replace it.",
                    warnings,
                )
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                if target.exists():  # no hard links here: check, then rename
                    return SaveResult(
                        SaveOutcome.EXISTS,
                        name,
                        target,
                        f"An article named “{name}” already exists. Confirm to replace it.",
                        warnings,
                    )
                os.rename(tmp, target)
            outcome = SaveOutcome.SAVED
    except OSError as exc:
        raise UploadRejected(f"could not save the file: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fsync_dir(corpus_dir)
    except OSError as exc:  # saved, but maybe not yet durable: say so rather than pretend
        warnings.append(f"the corpus directory could not be synced to disk ({exc.strerror or exc})")
    verb = "Replaced" if outcome is SaveOutcome.REPLACED else "Saved"
    return SaveResult(outcome, name, target, f"{verb} “{name}” ({_size(len(upload.data))}).", warnings)


UPLOAD_TMP_GLOB = ".upload-*.tmp"


def remove_stale_uploads(corpus_dir: Path, older_than_s: float = 600.0) -> list[str]:
    """Delete the temporary files of uploads that never finished (the process died between
    writing and moving the file into place); younger ones may still be in flight. Returns
    their names."""
    removed = []
    cutoff = time.time() - older_than_s
    try:
        candidates = list(Path(corpus_dir).glob(UPLOAD_TMP_GLOB))
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path.name)
        except OSError:
            continue
    return removed


def _existing_name(corpus_dir: Path, filename: str) -> str | None:
    """The name of a file in the corpus dir that is the same article name, ignoring case and Unicode form."""
    key = _name_key(filename)
    if (corpus_dir / filename).exists() or (corpus_dir / filename).is_symlink():
        return filename
    try:
        for entry in os.scandir(corpus_dir):
            if _name_key(entry.name) == key:
                return entry.name
    except OSError:
        pass
    return None


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def _show(name: str) -> str:
    """A file name as it may be shown back: bounded, printable, quoted."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    if len(cleaned) > 80:
        cleaned = cleaned[:77] + "..."
    return f"“{cleaned}”"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
