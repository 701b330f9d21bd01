"""The private PostgreSQL server the test suite runs against.

A thin Python face over ``scripts/pg_cluster.sh``, which does the work (installing the
server binaries if missing, initdb into a temporary directory, a free port, TLS, roles).
Nothing here depends on pytest: ``tests/conftest.py`` calls :func:`ensure_cluster` from its
own fixture.

The values are the ``ORMKIT_TEST_PG_*`` variables the script prints:

``ORMKIT_TEST_PG_URL``
    ``postgresql://ormkit_scram:PASS@127.0.0.1:PORT/ormkit_test`` (scram-sha-256 auth).
``ORMKIT_TEST_PG_MD5_URL``
    The same database as role ``ormkit_md5`` (md5 auth, password stored as md5).
``ORMKIT_TEST_PG_TRUST_URL``
    Role ``ormkit_trust``: trusted on TCP, the server never asks for a password.
``ORMKIT_TEST_PG_ADMIN_URL``
    Superuser ``ormkit_admin`` over the unix socket (``?host=SOCKET_DIR&port=PORT``).
``ORMKIT_TEST_PG_PASSWORD`` / ``ORMKIT_TEST_PG_MD5_PASSWORD``
    The passwords inside the two URLs (random per cluster, hex).
``ORMKIT_TEST_PG_CA``
    The CA certificate that signed the server certificate (CN=localhost, SAN localhost,
    127.0.0.1, ::1), for ``sslmode=verify-full``.
``ORMKIT_TEST_PG_SOCKET_DIR``, ``ORMKIT_TEST_PG_PORT``, ``ORMKIT_TEST_PG_DATA``,
``ORMKIT_TEST_PG_BIN``, ``ORMKIT_TEST_PG_LOG``, ``ORMKIT_TEST_PG_OS_USER``
    Where the server lives and runs, for tests that restart or stop it (use
    :func:`pg_ctl`, which runs ``pg_ctl`` as the right OS user).
``ORMKIT_TEST_PG_DIR``
    The cluster's temporary directory; :func:`stop_cluster` deletes it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pg_cluster.sh"
ENV_PREFIX = "ORMKIT_TEST_PG_"
URL_VAR = "ORMKIT_TEST_PG_URL"

_EXPORT = re.compile(r"^export (ORMKIT_TEST_PG_[A-Z0-9_]+)=(.*)$")
_lock = threading.Lock()
_cluster: dict[str, str] | None = None


class ClusterError(RuntimeError):
    """The test PostgreSQL server could not be started, stopped or controlled."""


def _parse_exports(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        match = _EXPORT.match(line.strip())
        if match:
            (value,) = shlex.split(match.group(2)) or [""]
            info[match.group(1)] = value
    return info


def _run_script(*args: str, timeout: float = 120.0) -> str:
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError(
            f"pg_cluster.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
        )
    return proc.stdout


def start_cluster(*, watch_pid: int | None = None) -> dict[str, str]:
    """Start a new throwaway cluster and return its ``ORMKIT_TEST_PG_*`` values.

    The values are also put into ``os.environ`` so that subprocesses see them. The cluster
    stops when :func:`stop_cluster` is called with the returned dict, or, if ``watch_pid``
    is given, at the latest about a second after that process has gone (even if it was
    killed with SIGKILL).
    """
    args = ["start"]
    if watch_pid is not None:
        args += ["--watch", str(watch_pid)]
    info = _parse_exports(_run_script(*args))
    if URL_VAR not in info or "ORMKIT_TEST_PG_DIR" not in info:
        raise ClusterError(f"pg_cluster.sh start printed no {URL_VAR}")
    os.environ.update(info)
    return info


def stop_cluster(info: dict[str, str]) -> None:
    """Stop the cluster described by ``info`` and delete its temporary directory.

    The ``ORMKIT_TEST_PG_*`` variables are removed from ``os.environ`` if they still
    describe this cluster. Stopping a cluster that is already gone is not an error.
    """
    directory = info.get("ORMKIT_TEST_PG_DIR")
    if not directory:
        raise ClusterError("no ORMKIT_TEST_PG_DIR: not a cluster started by start_cluster()")
    if Path(directory).exists():
        _run_script("stop", directory)
    if os.environ.get("ORMKIT_TEST_PG_DIR") == directory:
        for key in info:
            os.environ.pop(key, None)


def cluster_from_env() -> dict[str, str] | None:
    """Return the cluster given by the environment (e.g. by ``make test``), if there is one."""
    if not os.environ.get(URL_VAR):
        return None
    return {key: value for key, value in os.environ.items() if key.startswith(ENV_PREFIX)}


def ensure_cluster() -> dict[str, str]:
    """Return a running cluster, starting one for this process if needed.

    A cluster already announced by ``ORMKIT_TEST_PG_URL`` in the environment is reused
    (and left running: whoever started it stops it). Otherwise one is started, stopped by
    ``atexit``, and watched so that it also goes away if this process is killed. Repeated
    calls return the same cluster.
    """
    global _cluster
    with _lock:
        if _cluster is not None:
            return _cluster
        existing = cluster_from_env()
        if existing is not None:
            _cluster = existing
            return existing
        info = start_cluster(watch_pid=os.getpid())
        atexit.register(_stop_at_exit, info)
        _cluster = info
        return info


def _stop_at_exit(info: dict[str, str]) -> None:
    global _cluster
    # On failure the watchdog started with the cluster removes it anyway.
    with contextlib.suppress(ClusterError, subprocess.SubprocessError, OSError):
        stop_cluster(info)
    if _cluster is info:
        _cluster = None


def pg_ctl(info: dict[str, str], *args: str, timeout: float = 60.0) -> str:
    """Run ``pg_ctl ARGS`` on the cluster (``-D`` is added) and return its output.

    For ``start`` and ``restart`` the server log and ``-w`` are added too. Runs as the
    ``postgres`` user when the tests run as root. Example: ``pg_ctl(info, "restart",
    "-m", "fast")``.
    """
    return _run_script("ctl", info["ORMKIT_TEST_PG_DIR"], "--", *args, timeout=timeout)
