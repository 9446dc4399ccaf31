"""Tools around the bot, each usable without Discord: ``cli`` (the ``negotiations-bot`` command),
``evaluation`` (``eval``), ``bench/`` (``bench``), ``support_eval`` (the verifier's support test)."""
