#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite.
#
#   eval "$(scripts/pg_cluster.sh start [--watch PID])"   # start one, export its env
#   scripts/pg_cluster.sh stop [DIR]      # stop it and delete DIR (default: $ORMKIT_TEST_PG_DIR)
#   scripts/pg_cluster.sh env [DIR]       # print the export lines of a running cluster again
#   scripts/pg_cluster.sh ctl [DIR] -- ARGS...   # pg_ctl ARGS on it, as the right OS user
#                                                # (e.g. `ctl -- restart -m fast`)
#
# Each cluster lives in a fresh directory under ${ORMKIT_PG_TMPDIR:-/tmp}: data dir, its own
# unix socket dir, a CA and server certificate made for the run, the server log, and an
# `env` file with the export lines that `start` prints. It listens on its own free port on
# 127.0.0.1 (and ::1 when the machine has it), with TLS on. Roles (passwords random per run):
#
#   ormkit_admin   superuser, trust, unix socket only      ORMKIT_TEST_PG_ADMIN_URL
#   ormkit_scram   scram-sha-256, owns db ormkit_test      ORMKIT_TEST_PG_URL
#   ormkit_md5     md5 (password stored as md5)            ORMKIT_TEST_PG_MD5_URL
#   ormkit_trust   trust (the server never asks)           ORMKIT_TEST_PG_TRUST_URL
#
# ormkit_md5 and ormkit_trust are members of ormkit_scram, so all three see the same tables.
# `--watch PID` also starts a watchdog that stops the cluster once process PID is gone, so a
# test run killed with SIGKILL leaves no server behind.
# When run as root, initdb/pg_ctl/postgres run as the `postgres` user (initdb refuses root).
# Overrides: ORMKIT_PG_BIN (the server's bin dir; default: newest /usr/lib/postgresql/*/bin,
# else where `initdb` in PATH lives), ORMKIT_PG_TMPDIR (parent of the cluster dir; /tmp).
# Missing binaries or openssl are installed by scripts/install_deps.sh (needs root).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")
MARKER=.ormkit-pg-cluster

die() {
    echo "pg_cluster.sh: $*" >&2
    exit 1
}

# The directory holding initdb, pg_ctl, postgres and psql (newest version wins).
find_bin_dir() {
    local dir cand
    if [[ -n ${ORMKIT_PG_BIN:-} ]]; then
        echo "$ORMKIT_PG_BIN"
        return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
        if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres && -x $dir/psql ]]; then
            echo "$dir"
            return 0
        fi
    done
    if cand=$(command -v initdb); then
        dir=$(dirname "$(readlink -f "$cand")")
        if [[ -x $dir/pg_ctl && -x $dir/postgres && -x $dir/psql ]]; then
            echo "$dir"
            return 0
        fi
    fi
    return 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Run a server-side command as the cluster's OS user.
as_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

cluster_dir() {
    local dir=${1:-${ORMKIT_TEST_PG_DIR:-}}
    [[ -n $dir ]] || die "no cluster directory given and ORMKIT_TEST_PG_DIR is not set"
    [[ -f $dir/$MARKER ]] || die "$dir is not a cluster made by this script"
    echo "$dir"
}

make_certs() {
    local ssl=$1
    (
        cd "$ssl"
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.crt -days 7 -subj "/CN=ormkit test CA $$" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
        cat >server.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
            -set_serial "0x$(openssl rand -hex 16)" -days 7 -extfile server.ext \
            -out server.crt 2>/dev/null
        rm -f server.csr server.ext ca.key
        chmod 600 server.key
    ) || die "could not make the TLS certificates"
}

write_env() {
    local base=$1 port=$2 scram_pw=$3 md5_pw=$4 bin=$5
    local sock=$base/sock
    cat >"$base/env" <<EOF
export ORMKIT_TEST_PG_URL='postgresql://ormkit_scram:$scram_pw@127.0.0.1:$port/ormkit_test'
export ORMKIT_TEST_PG_MD5_URL='postgresql://ormkit_md5:$md5_pw@127.0.0.1:$port/ormkit_test'
export ORMKIT_TEST_PG_TRUST_URL='postgresql://ormkit_trust@127.0.0.1:$port/ormkit_test'
export ORMKIT_TEST_PG_ADMIN_URL='postgresql://ormkit_admin@/postgres?host=$sock&port=$port'
export ORMKIT_TEST_PG_PASSWORD='$scram_pw'
export ORMKIT_TEST_PG_MD5_PASSWORD='$md5_pw'
export ORMKIT_TEST_PG_CA='$base/ssl/ca.crt'
export ORMKIT_TEST_PG_SOCKET_DIR='$sock'
export ORMKIT_TEST_PG_PORT='$port'
export ORMKIT_TEST_PG_DATA='$base/data'
export ORMKIT_TEST_PG_BIN='$bin'
export ORMKIT_TEST_PG_LOG='$base/server.log'
export ORMKIT_TEST_PG_OS_USER='$(is_root && echo postgres || id -un)'
export ORMKIT_TEST_PG_DIR='$base'
EOF
}

cmd_start() {
    local watch=""
    while (($#)); do
        case $1 in
            --watch) watch=${2:?--watch needs a PID}; shift 2 ;;
            *) die "start: unknown argument $1" ;;
        esac
    done

    local bin
    if ! bin=$(find_bin_dir); then
        "$SCRIPT_DIR/install_deps.sh" >&2
        bin=$(find_bin_dir) || die "PostgreSQL server binaries not found"
    fi
    command -v openssl >/dev/null || "$SCRIPT_DIR/install_deps.sh" >&2
    if is_root; then
        id -u postgres >/dev/null 2>&1 || "$SCRIPT_DIR/install_deps.sh" >&2
    fi

    local base
    base=$(mktemp -d "${ORMKIT_PG_TMPDIR:-/tmp}/ormkit-pg.XXXXXX")
    touch "$base/$MARKER"
    # From here on, a failure removes what was made.
    trap 'cleanup_failed_start "$base"' EXIT
    mkdir -p "$base/sock" "$base/ssl"
    chmod 755 "$base"
    make_certs "$base/ssl"
    is_root && chown -R postgres: "$base"
    cd "$base" # initdb complains when it cannot enter the current directory

    local locale=C
    locale -a 2>/dev/null | grep -qix 'c.utf-\?8' && locale=C.UTF-8
    as_owner "$bin/initdb" -D "$base/data" -U ormkit_admin -E UTF8 --locale="$locale" \
        --auth-local=reject --auth-host=reject --no-sync --no-instructions \
        >"$base/initdb.log" 2>&1 || { cat "$base/initdb.log" >&2; die "initdb failed"; }

    local listen=127.0.0.1
    if grep -q ' lo$' /proc/net/if_inet6 2>/dev/null; then
        listen="127.0.0.1,::1"
    fi
    cat >>"$base/data/postgresql.conf" <<EOF

# --- ormkit throwaway test cluster ---
listen_addresses = '$listen'
unix_socket_directories = '$base/sock'
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$base/ssl/server.crt'
ssl_key_file = '$base/ssl/server.key'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
log_connections = off
timezone = 'UTC'
EOF
    local net
    {
        echo "# TYPE  DATABASE  USER          ADDRESS   METHOD"
        echo "local   all       ormkit_admin            trust"
        echo "local   all       ormkit_scram            scram-sha-256"
        echo "local   all       ormkit_md5              md5"
        echo "local   all       ormkit_trust            trust"
        # `host` lines match both plaintext and TLS connections.
        for net in 127.0.0.1/32 ::1/128; do
            echo "host    all       ormkit_scram  $net  scram-sha-256"
            echo "host    all       ormkit_md5    $net  md5"
            echo "host    all       ormkit_trust  $net  trust"
        done
    } >"$base/data/pg_hba.conf"

    local port tries=0
    while :; do
        port=$(free_port)
        sed -i '/^port = /d' "$base/data/postgresql.conf"
        echo "port = $port" >>"$base/data/postgresql.conf"
        if as_owner "$bin/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 30 \
            start >/dev/null 2>&1; then
            break
        fi
        # Another process may have taken the port between free_port and the bind.
        tries=$((tries + 1))
        if ((tries >= 5)) || ! grep -q "could not bind\|could not create any TCP" \
            "$base/server.log"; then
            cat "$base/server.log" >&2
            die "the server did not start"
        fi
    done

    local scram_pw md5_pw
    scram_pw=$(openssl rand -hex 16)
    md5_pw=$(openssl rand -hex 16)
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$base/sock" -p "$port" -U ormkit_admin \
        -d postgres >/dev/null <<EOF || die "could not create the roles"
SET password_encryption = 'scram-sha-256';
CREATE ROLE ormkit_scram LOGIN CREATEDB PASSWORD '$scram_pw';
SET password_encryption = 'md5';
CREATE ROLE ormkit_md5 LOGIN PASSWORD '$md5_pw';
RESET password_encryption;
CREATE ROLE ormkit_trust LOGIN;
GRANT ormkit_scram TO ormkit_md5, ormkit_trust;
CREATE DATABASE ormkit_test OWNER ormkit_scram;
GRANT ALL ON DATABASE ormkit_test TO ormkit_md5, ormkit_trust;
\connect ormkit_test
GRANT ALL ON SCHEMA public TO ormkit_md5, ormkit_trust;
EOF

    write_env "$base" "$port" "$scram_pw" "$md5_pw" "$bin"
    is_root && chown postgres: "$base/env"
    chmod 644 "$base/env"

    if [[ -n $watch ]]; then
        # Detached, with no inherited stdout, so `$(pg_cluster.sh start)` returns at once.
        setsid "$SELF" _watch "$watch" "$base" </dev/null >/dev/null 2>&1 &
    fi
    trap - EXIT
    cat "$base/env"
}

cleanup_failed_start() {
    local base=$1 bin
    bin=$(find_bin_dir) || true
    if [[ -n $bin && -f $base/data/postmaster.pid ]]; then
        as_owner "$bin/pg_ctl" -D "$base/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$base"
}

cmd_stop() {
    local base bin
    base=$(cluster_dir "${1:-}")
    # shellcheck disable=SC1091
    bin=$(. "$base/env" 2>/dev/null && echo "$ORMKIT_TEST_PG_BIN") || bin=$(find_bin_dir) || true
    if [[ -f $base/data/postmaster.pid && -n $bin ]]; then
        # Fast shutdown: nothing in a throwaway cluster is worth waiting for.
        as_owner "$bin/pg_ctl" -D "$base/data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
            || echo "pg_cluster.sh: pg_ctl stop failed for $base" >&2
    fi
    rm -rf "$base"
}

cmd_env() {
    local base
    base=$(cluster_dir "${1:-}")
    cat "$base/env"
}

cmd_ctl() {
    local base="" bin
    if (($#)) && [[ $1 != -- ]]; then
        base=$1
        shift
    fi
    [[ ${1:-} == -- ]] && shift
    base=$(cluster_dir "$base")
    # shellcheck disable=SC1091
    bin=$(. "$base/env" && echo "$ORMKIT_TEST_PG_BIN")
    local extra=()
    case ${1:-} in
        # Without -l the server would write to (and hold open) our stdout.
        start | restart) extra=(-l "$base/server.log" -w) ;;
    esac
    cd "$base"
    as_owner "$bin/pg_ctl" -D "$base/data" "$@" "${extra[@]}"
}

# Internal: stop the cluster in $2 once process $1 is gone.
cmd_watch() {
    local pid=$1 base=$2
    while kill -0 "$pid" 2>/dev/null && [[ -d $base ]]; do
        sleep 1
    done
    [[ -f $base/$MARKER ]] && cmd_stop "$base"
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    env) shift; cmd_env "$@" ;;
    ctl) shift; cmd_ctl "$@" ;;
    _watch) shift; cmd_watch "$@" ;;
    *)
        echo "usage: $0 start [--watch PID] | stop [DIR] | env [DIR] | ctl [DIR] -- PG_CTL_ARGS..." >&2
        exit 2
        ;;
esac
