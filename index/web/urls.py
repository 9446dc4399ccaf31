"""One story, one name: the canonical URL of an article and the file it is saved as.

The same story is often reached by several URLs: with tracking parameters (``utm_*``,
``fbclid``, ``gclid``...), as an AMP page, or under another path the page itself names in
``<link rel="canonical">`` / ``og:url``. The page's own canonical link is used when it points to
the same site (a page cannot claim another site's article); tracking parameters are stripped by
courlan (trafilatura's URL library), which also sorts the query and lower-cases the host; the
usual AMP markers are dropped. The article file is named after the canonical URL:
``web/<host>/<slug>-<hash>.txt``, the hash (of the URL without its scheme) making it unique, so
fetching the story again, by any of its URLs, finds the same file.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from courlan import is_external, normalize_url

WEB_DIR = "web"
HASH_CHARS = 12
SLUG_MAX_CHARS = 60
_AMP_QUERY = {("amp", ""), ("amp", "1"), ("amp", "true"), ("outputtype", "amp")}
_AMP_PATH_END = re.compile(r"(?:/amp/?|\.amp)$", re.IGNORECASE)
_AMP_PATH_START = re.compile(r"^/amp(?=/)", re.IGNORECASE)
_PAGE_SUFFIX = re.compile(r"\.(?:s?html?|php|aspx?|jsp|cms)$", re.IGNORECASE)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def canonical_url(url: str) -> str:
    """``url`` without tracking parameters, fragment, default port or AMP markers."""
    normalized = normalize_url(url.strip(), trailing_slash=True)
    parts = urlsplit(normalized)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if (k.lower(), v) not in _AMP_QUERY
    ]
    path = _AMP_PATH_START.sub("", _AMP_PATH_END.sub("", parts.path)) or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def same_site(url: str, other: str) -> bool:
    """Whether two URLs belong to one site: the same registrable domain (``amp.example.co.uk`` and
    ``www.example.co.uk``), or, for addresses, the same address."""
    host, other_host = urlsplit(url).hostname or "", urlsplit(other).hostname or ""
    if _is_address(host) or _is_address(other_host):
        return host == other_host
    return not is_external(url, other, ignore_suffix=False)


def story_url(page_url: str, declared: str | None) -> str:
    """The canonical URL of the article fetched from ``page_url`` whose page declares
    ``declared`` as its canonical URL (``<link rel=canonical>`` or ``og:url``), if any."""
    if declared and urlsplit(declared).scheme in ("http", "https") and same_site(declared, page_url):
        return canonical_url(declared)
    return canonical_url(page_url)


def article_path(url: str) -> str:
    """The article file's path in the corpus dir for a canonical URL: ``web/<host>/<slug>-<hash>.txt``."""
    parts = urlsplit(url)
    # http and https, with or without a trailing slash: one story
    identity = urlunsplit(("", parts.netloc, parts.path.rstrip("/"), parts.query, ""))
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{WEB_DIR}/{host_dir(url)}/{slug(parts.path)}-{digest}.txt"


def host_dir(url: str) -> str:
    """The folder of a site's articles: its host in ASCII, with the port when it is not the default."""
    parts = urlsplit(url)
    host = (parts.hostname or "unknown").encode("idna").decode("ascii")
    name = f"{host}_{parts.port}" if parts.port else host
    name = re.sub(r"[^a-z0-9._-]+", "_", name.lower()).strip("._") or "unknown"
    return name


def slug(path: str) -> str:
    """Readable words from a URL path: its last meaningful segment, lower-case ASCII."""
    segments = [s for s in path.split("/") if s]
    words = ""
    for segment in reversed(segments):
        words = _NOT_SLUG.sub("-", _PAGE_SUFFIX.sub("", unquote(segment)).lower()).strip("-")
        if words and not words.isdigit():
            break
    return words[:SLUG_MAX_CHARS].strip("-") or "article"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
