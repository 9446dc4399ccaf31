"""``python -m bot`` is the same program as the ``negotiations-bot`` console script."""

from bot.tools.cli import main

raise SystemExit(main())
