"""``python -m tests.helpers.discord_standin --lifetime 600``: run the stand-in as a process (see cli.py)."""

from tests.helpers.discord_standin.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
