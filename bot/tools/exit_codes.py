"""The console commands' exit codes: 0 done, 1 failed (our side: index, database, settings),
2 bad input (a question, a file, a URL or a feed that cannot be used; nothing was changed)."""

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
