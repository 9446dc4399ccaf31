"""Optional generated answers (ANSWER_BACKEND=openai | llamacpp) with verified citations.

The pieces, each usable on its own:

- ``prompt``: numbered sentence-level sources from the retrieved chunks, and the chat messages
  (sources and question delimited and escaped as data; instruction-like article sentences left out).
- ``verify``: the streaming sentence splitter and the ``Verifier`` that decides, sentence by
  sentence, what may be shown (valid markers, real quotes, measured support by the cited span).
- ``backends``: the OpenAI-compatible backend (LlamaIndex ``OpenAILike``) and the in-process
  llama.cpp backend (one model thread, bounded queue).
- ``answerer``: ``GenerativeAnswerer`` (same retrieval as the extractive ``Answerer``, which is
  also its fallback), its streaming API ``astream`` and the pacing helper ``paced``.

See docs/GENERATION.md for the verification rules and the support-test measurements.
"""

from bot.llm.answerer import GenerativeAnswerer, StreamedSentence, paced
from bot.llm.backends import LlamaCppBackend, ModelBusyError, OpenAIBackend, default_gguf_path
from bot.llm.verify import SupportConfig, Verifier

__all__ = [
    "GenerativeAnswerer",
    "LlamaCppBackend",
    "ModelBusyError",
    "OpenAIBackend",
    "StreamedSentence",
    "SupportConfig",
    "Verifier",
    "default_gguf_path",
    "paced",
]
