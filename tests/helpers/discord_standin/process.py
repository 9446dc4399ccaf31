"""The stand-in as a separate process, for synchronous tests: :class:`StandInProcess` starts
``python -m tests.helpers.discord_standin`` and :class:`StandInClient` drives its control API.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

# the project root: tests/helpers/discord_standin/process.py is four levels below it
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class StandInClient:
    """Synchronous client for a stand-in's control API (stdlib only, no proxies)."""

    def __init__(self, control_url: str, timeout: float = 15.0):
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, name: str, body: dict | None = None, query: dict | None = None) -> Any:
        url = f"{self.control_url}/{name}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url,
            data=data,
            method="POST" if data is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with self._opener.open(req, timeout=self.timeout) as resp:
            return json.loads(resp.read().decode())

    def state(self) -> dict:
        return self._call("state")

    def requests(self, since: int = 0) -> list[dict]:
        return self._call("requests", query={"since": since})

    def sent(self) -> list[dict]:
        return self._call("sent")

    def gateway_log(self) -> list[dict]:
        return self._call("gateway_log")

    def messages(self) -> dict:
        return self._call("messages")

    def slash(
        self,
        name: str = "ask",
        options: dict | None = None,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
    ) -> dict:
        return self._call(
            "slash", {"name": name, "options": options or {}, "user_id": user_id, "channel_id": channel_id}
        )

    def component(self, custom_id: str, message_id: str, *, user_id: str | None = None) -> dict:
        return self._call("component", {"custom_id": custom_id, "message_id": message_id, "user_id": user_id})

    def message(
        self,
        content: str,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        mention_bot: bool = False,
        reply_to: str | None = None,
    ) -> dict:
        return self._call(
            "message",
            {
                "content": content,
                "user_id": user_id,
                "channel_id": channel_id,
                "mention_bot": mention_bot,
                "reply_to": reply_to,
            },
        )

    def thread(self, name: str, *, parent_id: str | None = None, owner_id: str | None = None) -> dict:
        return self._call("thread", {"name": name, "parent_id": parent_id, "owner_id": owner_id})

    def shutdown(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._call("shutdown", {})

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
    ) -> Any:
        """Poll ``predicate()`` until it returns something truthy; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} not met within {timeout}s")
            time.sleep(interval)


class StandInProcess:
    """Runs the stand-in as a separate process: ``with StandInProcess() as proc: proc.client.slash(...)``."""

    def __init__(
        self,
        *,
        lifetime: float = 600.0,
        token: str | None = None,
        extra_args: list[str] | None = None,
        cwd: str | None = None,
    ):
        self.lifetime = lifetime
        self.token = token
        self.extra_args = extra_args or []
        self.cwd = cwd or PROJECT_ROOT
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.client: StandInClient | None = None

    def start(self, timeout: float = 20.0) -> StandInProcess:
        cmd = [
            sys.executable,
            "-m",
            "tests.helpers.discord_standin",
            "--lifetime",
            str(self.lifetime),
            *self.extra_args,
        ]
        if self.token:
            cmd += ["--token", self.token]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.PIPE, stderr=None, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError("discord stand-in process did not report its port")
        self.info = json.loads(line[0])
        self.client = StandInClient(self.info["control"])
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None and self.client is not None:
            self.client.shutdown()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> StandInProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
