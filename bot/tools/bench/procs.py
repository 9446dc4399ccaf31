"""Processes and measurements: each workload runs in a fresh subprocess (``workers``) so that
its memory and cold start are its own; results come back as one JSON line on stdout."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bot.measure import percentile
from bot.tools.bench.inputs import PROJECT

RESULT_MARKER = "BENCH-RESULT "


def summarize(values_ms: list[float]) -> dict:
    return {
        "n": len(values_ms),
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "mean": sum(values_ms) / len(values_ms) if values_ms else None,
        "max": max(values_ms, default=None),
    }


def _proc_status(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    subprocess would report its parent's size at fork."""
    peak = _proc_status("VmHWM")
    if peak is None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak


def current_rss_bytes() -> int | None:
    return _proc_status("VmRSS")


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def settings_fields(settings) -> dict:
    """Every setting except secrets, the two directories and the database, for the subprocesses
    (a payload's ``database_url`` says which store a workload uses: none is the files store)."""
    return settings.model_dump(
        mode="json", exclude={"discord_token", "corpus_dir", "data_dir", "database_url", "llm_api_key"}
    )


def child_settings(payload: dict):
    from bot.settings import Settings

    return Settings(
        _env_file=None,
        corpus_dir=Path(payload["corpus"]),
        data_dir=Path(payload["data"]),
        database_url=payload.get("database_url"),
        **payload["settings"],
    )


def spawn(mode: str, payload: dict, timeout: float = 4 * 3600) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")]))
    payload = payload | {"t_spawn": time.time()}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.tools.bench.workers", mode],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
    raise RuntimeError(f"bench subprocess '{mode}' exited {proc.returncode} without a result:\n{tail}")


def machine_info() -> dict:
    import faiss
    import numpy
    import psutil
    import sentence_transformers
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=PROJECT,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "", False
    try:
        from importlib.metadata import version

        llama = version("llama-index-core")
        bm25s_version = version("bm25s")
    except Exception:
        llama = bm25s_version = "?"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "llama_index_core": llama,
        "bm25s": bm25s_version,
        "git": commit + ("-dirty" if dirty else ""),
        "load_start": load_average(),
    }
