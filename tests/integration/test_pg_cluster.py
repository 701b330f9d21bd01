"""The private PostgreSQL test server accepts password logins, TLS, and refuses bad passwords.

These talk to the real server with ``psql`` (the ormkit PostgreSQL client comes later).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

# tests/pg_cluster.py, importable whether or not tests/ is on sys.path already.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
ensure_cluster = importlib.import_module("pg_cluster").ensure_cluster

REQUIRED_VARS = (
    "ORMKIT_TEST_PG_URL",
    "ORMKIT_TEST_PG_MD5_URL",
    "ORMKIT_TEST_PG_TRUST_URL",
    "ORMKIT_TEST_PG_ADMIN_URL",
    "ORMKIT_TEST_PG_CA",
    "ORMKIT_TEST_PG_SOCKET_DIR",
    "ORMKIT_TEST_PG_PORT",
    "ORMKIT_TEST_PG_DATA",
    "ORMKIT_TEST_PG_BIN",
)


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, str]]:
    yield ensure_cluster()


def _psql_path(info: dict[str, str]) -> str:
    candidate = Path(info["ORMKIT_TEST_PG_BIN"]) / "psql"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("psql")
    assert found, "psql not found"
    return found


def psql(
    info: dict[str, str], conninfo: str, sql: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one statement with psql, never prompting, with no ambient PG* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSFILE"] = os.devnull  # no ~/.pgpass may supply a password
    env["PGCONNECT_TIMEOUT"] = "10"
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(
        [_psql_path(info), "-X", "-w", "-At", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def query(info: dict[str, str], conninfo: str, sql: str, password: str | None = None) -> str:
    proc = psql(info, conninfo, sql, password)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def split_password(url: str) -> tuple[str, str]:
    """Return ``url`` without its password, and the password."""
    parts = urlsplit(url)
    assert parts.password, f"no password in {url}"
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), parts.password


def test_env_is_complete(pg: dict[str, str]) -> None:
    for var in REQUIRED_VARS:
        assert pg.get(var), f"{var} missing"
        assert os.environ.get(var) == pg[var]
    assert Path(pg["ORMKIT_TEST_PG_CA"]).is_file()
    assert Path(pg["ORMKIT_TEST_PG_SOCKET_DIR"], f".s.PGSQL.{pg['ORMKIT_TEST_PG_PORT']}").exists()
    for tool in ("pg_ctl", "postgres", "initdb"):
        assert Path(pg["ORMKIT_TEST_PG_BIN"], tool).exists()
    assert urlsplit(pg["ORMKIT_TEST_PG_URL"]).port == int(pg["ORMKIT_TEST_PG_PORT"])


@pytest.mark.parametrize(
    ("var", "role", "method", "stored"),
    [
        ("ORMKIT_TEST_PG_URL", "ormkit_scram", "scram-sha-256", "SCRAM-SHA-256$"),
        ("ORMKIT_TEST_PG_MD5_URL", "ormkit_md5", "md5", "md5"),
    ],
)
def test_password_login(pg: dict[str, str], var: str, role: str, method: str, stored: str) -> None:
    url, password = split_password(pg[var])
    # The password from PGPASSWORD logs in ...
    assert query(pg, url, "SELECT current_user", password=password) == role
    # ... and is needed: without it the server refuses.
    proc = psql(pg, url, "SELECT 1")
    assert proc.returncode != 0
    assert "password" in proc.stderr
    # The server really uses this method for this role over TCP, with the password stored
    # in the matching form (an md5 method with a SCRAM secret would silently do SCRAM).
    admin = pg["ORMKIT_TEST_PG_ADMIN_URL"]
    methods = query(
        pg,
        admin,
        "SELECT DISTINCT auth_method FROM pg_hba_file_rules "
        f"WHERE type = 'host' AND '{role}' = ANY(user_name)",
    )
    assert methods == method
    secret = query(pg, admin, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    assert secret.startswith(stored)


@pytest.mark.parametrize("var", ["ORMKIT_TEST_PG_URL", "ORMKIT_TEST_PG_MD5_URL"])
def test_wrong_password_is_refused(pg: dict[str, str], var: str) -> None:
    url, password = split_password(pg[var])
    proc = psql(pg, url, "SELECT current_user", password=password + "x")
    assert proc.returncode != 0
    assert "password authentication failed" in proc.stderr


def test_trust_role_needs_no_password(pg: dict[str, str]) -> None:
    url = pg["ORMKIT_TEST_PG_TRUST_URL"]
    assert urlsplit(url).password is None
    assert query(pg, url, "SELECT current_user") == "ormkit_trust"


def test_tls_verify_full(pg: dict[str, str]) -> None:
    url, password = split_password(pg["ORMKIT_TEST_PG_URL"])
    conninfo = (
        f"host=localhost hostaddr=127.0.0.1 port={pg['ORMKIT_TEST_PG_PORT']} "
        f"dbname=ormkit_test user=ormkit_scram sslmode=verify-full "
        f"sslrootcert={pg['ORMKIT_TEST_PG_CA']}"
    )
    sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    assert query(pg, conninfo, sql, password=password) == "t"
    # The certificate names 127.0.0.1 too.
    by_ip = conninfo.replace("host=localhost hostaddr=127.0.0.1", "host=127.0.0.1")
    assert query(pg, by_ip, sql, password=password) == "t"
    # Plaintext works as well.
    assert query(pg, f"{url}?sslmode=disable", sql, password=password) == "f"


def test_tls_rejects_wrong_name(pg: dict[str, str]) -> None:
    _, password = split_password(pg["ORMKIT_TEST_PG_URL"])
    conninfo = (
        f"host=not-the-server hostaddr=127.0.0.1 port={pg['ORMKIT_TEST_PG_PORT']} "
        f"dbname=ormkit_test user=ormkit_scram sslmode=verify-full "
        f"sslrootcert={pg['ORMKIT_TEST_PG_CA']}"
    )
    proc = psql(pg, conninfo, "SELECT 1", password=password)
    assert proc.returncode != 0
    assert "not-the-server" in proc.stderr


def test_admin_is_superuser_and_roles_share_database(pg: dict[str, str]) -> None:
    admin = pg["ORMKIT_TEST_PG_ADMIN_URL"]
    assert (
        query(pg, admin, "SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
        == "ormkit_admin|t"
    )
    scram, password = split_password(pg["ORMKIT_TEST_PG_URL"])
    table = f"pg_cluster_probe_{os.getpid()}"
    query(pg, scram, f"CREATE TABLE {table} (x int); INSERT INTO {table} VALUES (1)", password)
    try:
        md5, md5_password = split_password(pg["ORMKIT_TEST_PG_MD5_URL"])
        assert query(pg, md5, f"SELECT x FROM {table}", md5_password) == "1"
        assert query(pg, pg["ORMKIT_TEST_PG_TRUST_URL"], f"SELECT count(*) FROM {table}") == "1"
    finally:
        query(pg, scram, f"DROP TABLE {table}", password)
