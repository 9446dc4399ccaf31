"""``python -m tests.helpers.discord_standin``: serve the stand-in until its lifetime is over, after
printing one JSON line (pid, port, api_base, gateway_url, control, world).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

from tests.helpers.discord_standin.server import DiscordStandIn


async def _serve(args: argparse.Namespace) -> None:
    standin = DiscordStandIn(
        token=args.token, lifetime=args.lifetime, heartbeat_interval_ms=args.heartbeat_ms
    )
    await standin.start(args.port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(standin.stop()))
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "port": standin.port,
                "api_base": standin.api_base,
                "gateway_url": standin.gateway_url,
                "control": standin.control_url,
                "world": standin.world.to_json(),
            }
        ),
        flush=True,
    )
    await standin.wait_stopped()
    await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A Discord-compatible stand-in server on 127.0.0.1 for tests."
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--lifetime", type=float, default=600.0, help="stop by itself after this many seconds"
    )
    parser.add_argument("--token", help="accept only this bot token (default: any)")
    parser.add_argument("--heartbeat-ms", type=int, default=5000, help="heartbeat interval sent in HELLO")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0
