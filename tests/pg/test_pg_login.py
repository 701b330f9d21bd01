"""Logging in: SCRAM and MD5 roles, wrong passwords, TLS modes."""

from __future__ import annotations

import traceback
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from fake_pg.support import EngineFactory, with_options

import ormkit

pytestmark = pytest.mark.pg


def replace_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.parametrize(
    ("url_var", "role", "method"),
    [
        ("ORMKIT_TEST_PG_URL", "ormkit_scram", "scram-sha-256"),
        ("ORMKIT_TEST_PG_MD5_URL", "ormkit_md5", "md5"),
    ],
)
async def test_password_login(
    pg_cluster: dict[str, str],
    admin: ormkit.Engine,
    engines: EngineFactory,
    url_var: str,
    role: str,
    method: str,
) -> None:
    engine = await engines(pg_cluster[url_var], max_connections=1)
    row = (await engine.execute("SELECT current_user AS u, pg_backend_pid() AS pid")).one()
    assert row["u"] == role
    # The server used the authentication method we meant to test.
    hba = await admin.execute(
        "SELECT auth_method FROM pg_hba_file_rules "
        "WHERE $1 = ANY(user_name) AND type = 'host' AND '127.0.0.1' = address",
        [role],
    )
    assert hba.scalar() == method


@pytest.mark.parametrize("url_var", ["ORMKIT_TEST_PG_URL", "ORMKIT_TEST_PG_MD5_URL"])
async def test_wrong_password_is_refused_without_showing_it(
    pg_cluster: dict[str, str], url_var: str
) -> None:
    wrong = "Wr0ng-pa55word-xyzzy"
    real = urlsplit(pg_cluster[url_var]).password
    assert real
    url = replace_password(pg_cluster[url_var], wrong)
    with pytest.raises(ormkit.OperationalError) as info:
        await ormkit.create_engine(url)
    exc = info.value
    assert "password authentication failed" in str(exc)
    assert exc.sqlstate == "28P01"
    shown = "\n".join([str(exc), repr(exc), *traceback.format_exception(exc), repr(exc.__dict__)])
    for secret in (wrong, real, quote(wrong, safe="")):
        assert secret not in shown


async def test_sslmode_require_is_tls(
    pg_cluster: dict[str, str], admin: ormkit.Engine, engines: EngineFactory, app_name: str
) -> None:
    url = with_options(pg_cluster["ORMKIT_TEST_PG_URL"], sslmode="require")
    engine = await engines(url, max_connections=1, application_name=app_name)
    pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
    # Seen from another connection, not from the one under test.
    row = (
        await admin.execute(
            "SELECT s.ssl, s.version, a.application_name FROM pg_stat_ssl s "
            "JOIN pg_stat_activity a USING (pid) WHERE pid = $1",
            [pid],
        )
    ).one()
    assert row["ssl"] is True
    assert row["version"].startswith("TLS")
    assert row["application_name"] == app_name


async def test_sslmode_disable_is_plaintext(
    pg_cluster: dict[str, str], admin: ormkit.Engine, engines: EngineFactory
) -> None:
    url = with_options(pg_cluster["ORMKIT_TEST_PG_URL"], sslmode="disable")
    engine = await engines(url, max_connections=1)
    pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
    ssl = (await admin.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = $1", [pid])).scalar()
    assert ssl is False


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_verify_full_with_the_run_ca(
    pg_cluster: dict[str, str], admin: ormkit.Engine, engines: EngineFactory, host: str
) -> None:
    url = pg_cluster["ORMKIT_TEST_PG_URL"].replace("@127.0.0.1:", f"@{host}:")
    url = with_options(url, sslmode="verify-full", sslrootcert=pg_cluster["ORMKIT_TEST_PG_CA"])
    engine = await engines(url, max_connections=1)
    pid = (await engine.execute("SELECT pg_backend_pid()")).scalar()
    ssl = (await admin.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = $1", [pid])).scalar()
    assert ssl is True


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca"])
async def test_verification_fails_without_the_ca(pg_cluster: dict[str, str], mode: str) -> None:
    url = with_options(pg_cluster["ORMKIT_TEST_PG_URL"], sslmode=mode)
    with pytest.raises(ormkit.OperationalError) as info:
        await ormkit.create_engine(url, connect_timeout=5)
    assert "certificate" in str(info.value).lower()


async def test_verification_fails_with_another_ca(
    pg_cluster: dict[str, str], tmp_path: object
) -> None:
    """A CA file that did not sign the server's certificate is refused too."""
    import subprocess
    from pathlib import Path

    directory = Path(str(tmp_path))
    key, cert = directory / "other.key", directory / "other.crt"
    made = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=other test CA", "-keyout", str(key), "-out", str(cert),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip("openssl is not available to make a second CA")
    url = with_options(
        pg_cluster["ORMKIT_TEST_PG_URL"], sslmode="verify-full", sslrootcert=str(cert)
    )
    with pytest.raises(ormkit.OperationalError) as info:
        await ormkit.create_engine(url, connect_timeout=5)
    assert "certificate" in str(info.value).lower()
