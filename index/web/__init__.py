"""News from the web into the library: fetch a page or a feed safely (``fetch``), extract the
article from the page (``extract``), name it by its canonical URL (``urls``), read RSS and Atom
(``feeds``) and save articles into the corpus directory (``ingest``, the entry point). No
Discord, no database: the front ends (the CLI, the bot) keep the feed subscriptions and call
``Library.reindex()`` after saving.
"""
