"""Shared by the index-store tests (test_store, test_store_recovery, test_store_corruption): small
generated corpora (a handful of short articles), a wrapper counting what is sent to the real model for
embedding, what is on disk under the data dir (version directories, build leftovers), and ways to damage
a version on disk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[2]

TOPICS = [
    (
        "Geneva talks",
        "Delegations met in Geneva to discuss a ceasefire along the front line. Envoys said the talks were constructive.",
    ),
    (
        "Grain corridor",
        "Negotiators revived the Black Sea grain corridor. Ships left Odesa under the new arrangement.",
    ),
    (
        "Prisoner exchange",
        "Both sides exchanged two hundred prisoners of war after mediation by the United Arab Emirates.",
    ),
    (
        "Energy strikes pause",
        "A thirty-day pause on strikes against energy infrastructure was agreed in a phone call.",
    ),
    (
        "Sanctions relief",
        "Moscow demanded sanctions relief on agricultural exports before any maritime truce.",
    ),
]


def article_text(title: str, body: str, marker: str = "") -> str:
    return (
        f"Title: {title}\nSource: Test Wire\nPublished: 2025-03-{len(title) % 28 + 1:02d}\n\n{body} {marker}".rstrip()
        + "\n"
    )


def write_corpus(corpus: Path, marker: str = "", topics=TOPICS) -> list[str]:
    corpus.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (title, body) in enumerate(topics):
        name = f"{i:02d}_{title.lower().replace(' ', '_')}.txt"
        (corpus / name).write_text(article_text(title, body, marker), "utf-8")
        names.append(name)
    return names


class CountingModel:
    """The real model, counting what is sent to it for embedding."""

    def __init__(self, model):
        self.model = model
        self.texts: list[str] = []
        self.calls = 0

    def get_text_embedding_batch(self, texts, **kwargs):
        self.calls += 1
        self.texts.extend(texts)
        return self.model.get_text_embedding_batch(texts, **kwargs)

    def get_query_embedding(self, text):
        return self.model.get_query_embedding(text)

    def reset(self):
        self.texts.clear()
        self.calls = 0


class HashEmbed:
    """A deterministic stand-in for the model: a unit vector from the text's sha512, so the same
    text always gets the same vector whatever batch it is embedded in."""

    def get_text_embedding_batch(self, texts, **_):
        out = []
        for t in texts:
            v = np.frombuffer(hashlib.sha512(t.encode()).digest() * 6, dtype=np.uint8)[:384].astype("float32")
            out.append((v / np.linalg.norm(v)).tolist())
        return out

    def get_query_embedding(self, text):
        return self.get_text_embedding_batch([text])[0]


def version_dirs(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "index").glob("v-*"))


def leftovers(data_dir: Path) -> list[str]:
    root = data_dir / "index"
    if not root.is_dir():
        return []  # nothing of the index on disk (PostgreSQL)
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".build-") or p.name.endswith(".tmp"))


def segment_dirs(version_path: Path) -> list[Path]:
    """The segment directories a version directory's manifest lists."""
    manifest = json.loads((version_path / "manifest.json").read_text("utf-8"))
    return [version_path.parent / "segments" / entry["id"] for entry in manifest["segments"]]


def _truncate_vectors(path: Path):
    file = segment_dirs(path)[-1] / "arrays.bin"
    file.write_bytes(file.read_bytes()[:100])


def _flip_byte(path: Path):
    file = segment_dirs(path)[-1] / "arrays.bin"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))


def _drop_arrays(path: Path):
    (segment_dirs(path)[-1] / "arrays.bin").unlink()


def _bad_manifest(path: Path):
    (path / "manifest.json").write_text('{"format": 2, "segments": [', "utf-8")


def _wrong_format(path: Path):
    manifest = json.loads((path / "manifest.json").read_text("utf-8"))
    manifest["format"] = 999
    (path / "manifest.json").write_text(json.dumps(manifest), "utf-8")


def unreferenced_segments(database_url: str | None) -> list[str]:
    """PostgreSQL segments no version lists or not committed (what a crash leaves until the next
    re-index cleans up); [] for the files store (``leftovers`` covers it)."""
    if not database_url:
        return []
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id FROM index_segments s WHERE NOT committed OR NOT EXISTS (SELECT 1 FROM index_versions v,"
            " jsonb_array_elements(v.manifest -> 'segments') e WHERE e ->> 'id' = s.id)"
        ).fetchall()
    return [r[0] for r in rows]
