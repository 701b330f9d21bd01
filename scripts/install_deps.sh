#!/usr/bin/env bash
# Install the system packages the test suite needs, if they are missing.
#
#   - PostgreSQL server binaries (initdb, pg_ctl, postgres) and psql, for the private
#     test server started by scripts/pg_cluster.sh;
#   - the openssl CLI, which makes the CA and server certificate for that server.
#
# Idempotent and fast (no apt call at all) when everything is already there.
# Installing needs root (apt-get); the machine this project targets is Debian 12.
set -euo pipefail

have_pg_bins() {
    local dir
    # A directory that holds all of the server binaries and psql counts.
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" && -x "$dir/psql" ]] \
            && return 0
    done
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null \
        && command -v postgres >/dev/null && command -v psql >/dev/null
}

missing=()
have_pg_bins || missing+=(postgresql postgresql-contrib)
command -v openssl >/dev/null || missing+=(openssl)
# Debian's python3 lacks venv/ensurepip until python3-venv is installed.
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install_deps.sh: missing ${missing[*]}; run this script as root to install" >&2
        exit 1
    fi
    echo "install_deps.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        # Debian's postgresql-common would otherwise create and start a "main" cluster
        # on port 5432 that the tests never use (ours are throwaway clusters): install
        # it first and switch that off, as the official postgres image does.
        apt-get install -y -q --no-install-recommends postgresql-common >&2
        conf=/etc/postgresql-common/createcluster.conf
        if [[ -f $conf ]]; then
            sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$/\1 = false/' "$conf"
        fi
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    if ! have_pg_bins && [[ " ${missing[*]} " == *" postgresql "* ]]; then
        echo "install_deps.sh: PostgreSQL server binaries still not found" >&2
        exit 1
    fi
fi

# initdb refuses to run as root: the cluster script runs it as `postgres`.
if [[ $(id -u) -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /var/lib/postgresql \
        --shell /bin/bash postgres
fi
