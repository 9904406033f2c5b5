#!/usr/bin/env bash
# Make PostgreSQL and RabbitMQ reachable on 127.0.0.1 for id2meta's tests, demo and CI.
#
# Why a script: the README's test and demo commands and .ci/run must work on a developer's
# Debian machine, on a fresh CI runner and where the services already run, without asking
# anyone to read a setup page first. For each service it takes the cheapest step that works:
#   1. use one that already answers (fast: about a second when both run);
#   2. else start the installed one;
#   3. else install Debian's package (apt-get), then start it.
# There is no init system on the machines this targets, so the services are started by hand.
#
# Expects root, or sudo for the steps that need it (starting, installing, editing pg_hba.conf).
# Idempotent: run it as often as you like.
#
# Usage: scripts/services.sh [--with-management]
#   --with-management   also enable RabbitMQ's management plugin (HTTP API on :15672), which
#                       tests use for KEDA-like queue counts.
# Environment:
#   ID2META_SKIP_SERVICES=1   do nothing (the services are provided some other way).
#   SERVICES_WAIT_SECS        how long to wait for a service to answer (default 90).
set -euo pipefail

WITH_MANAGEMENT=0
for arg in "$@"; do
    case "$arg" in
        --with-management) WITH_MANAGEMENT=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "services.sh: unknown argument '$arg' (see --help)" >&2
            exit 64
            ;;
    esac
done

if [[ "${ID2META_SKIP_SERVICES:-0}" == "1" ]]; then
    echo "services: ID2META_SKIP_SERVICES=1, leaving services alone"
    exit 0
fi

WAIT_SECS="${SERVICES_WAIT_SECS:-90}"
PG_PORT="${SERVICES_PG_PORT:-5432}" # another port only to test this script on a scratch cluster
AMQP_PORT="${SERVICES_AMQP_PORT:-5672}" # another port only to test this script on a scratch node
MGMT_PORT=15672
# Admin URL: the contract's default DATABASE_URL, but on the always-present `postgres` database
# (the worker creates `id2meta` itself when it is missing).
PG_ADMIN_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
CONTRACT_DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/id2meta"

log() { echo "services: $*"; }
die() {
    echo "services: ERROR: $*" >&2
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# Privileged commands run directly as root, else through sudo.
if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=()
elif have sudo; then
    SUDO=(sudo)
else
    SUDO=(__no_root_no_sudo__)
fi
as_root() {
    if [[ "${SUDO[0]:-}" == "__no_root_no_sudo__" ]]; then
        die "need root or sudo to run: $*"
    fi
    "${SUDO[@]}" "$@"
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every half second until it succeeds.
wait_until() {
    local secs="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
    log "$what (after ${SECONDS}s of this script)"
}

APT_UPDATED=0
apt_install() {
    have apt-get || die "$* not installed and apt-get is unavailable: install it yourself"
    log "installing Debian packages: $*"
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        as_root apt-get update -q || die "apt-get update failed"
        APT_UPDATED=1
    fi
    # No init system here: keep apt's maintainer scripts from trying to start services
    # (they would fail); this script starts them itself. Only remove a policy-rc.d we made.
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" || rc=$?
    if [[ "$made_policy" -eq 1 ]]; then
        as_root rm -f /usr/sbin/policy-rc.d
    fi
    [[ "$rc" -eq 0 ]] || die "apt-get install $* failed (exit $rc)"
}

# ---------------------------------------------------------------- PostgreSQL

pg_works() { PGCONNECT_TIMEOUT=5 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1; }
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }

# The installed cluster that listens on 5432, as "VERSION NAME"; the first one otherwise.
pg_cluster() {
    have pg_lsclusters || return 1
    local line
    line="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }')"
    if [[ -z "$line" ]]; then
        line="$(pg_lsclusters -h 2>/dev/null | awk 'NR == 1 { print $1, $2 }')"
    fi
    [[ -n "$line" ]] || return 1
    echo "$line"
}

pg_start_installed() {
    local ver name rc=0
    if ! read -r ver name < <(pg_cluster); then
        # The package is there but no cluster is (someone dropped it): make the default one.
        ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -n 1)"
        [[ -n "$ver" ]] || die "PostgreSQL tools present but no server version under /usr/lib/postgresql"
        name=main
        log "creating PostgreSQL cluster $ver/$name"
        as_root pg_createcluster "$ver" "$name" --port "$PG_PORT" >/dev/null ||
            die "pg_createcluster $ver $name failed"
    fi
    log "starting PostgreSQL $ver/$name"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || rc=$?
    # Exit 2 means it already runs.
    if [[ "$rc" -ne 0 && "$rc" -ne 2 ]]; then
        die "pg_ctlcluster $ver $name start failed (exit $rc); see /var/log/postgresql/postgresql-$ver-$name.log"
    fi
}

# A fresh Debian cluster allows only peer (socket) and password (TCP) logins. Trust loopback
# TCP for every role, as local development databases commonly do, so the contract's default
# URL (no password) works. Only called when that URL does not already work.
pg_trust_loopback() {
    local ver name hba
    read -r ver name < <(pg_cluster) || die "cannot find the PostgreSQL cluster to fix its pg_hba.conf"
    hba="/etc/postgresql/$ver/$name/pg_hba.conf"
    [[ -f "$hba" ]] || die "PostgreSQL rejects $PG_ADMIN_URL and $hba does not exist"
    if grep -q '^# id2meta services.sh: trust loopback' "$hba"; then
        die "PostgreSQL rejects $PG_ADMIN_URL although $hba already trusts loopback: $(psql "$PG_ADMIN_URL" -XAtqc 'select 1' 2>&1 | head -n 1)"
    fi
    log "allowing passwordless TCP logins from 127.0.0.1 and ::1 in $hba"
    # pg_hba.conf is first-match: the new lines go on top.
    local tmp
    tmp="$(mktemp)"
    {
        echo '# id2meta services.sh: trust loopback TCP (local development and CI only)'
        echo 'host    all    all    127.0.0.1/32    trust'
        echo 'host    all    all    ::1/128         trust'
        as_root cat "$hba"
    } >"$tmp"
    as_root cp "$hba" "$hba.bak-id2meta"
    as_root tee "$hba" <"$tmp" >/dev/null
    rm -f "$tmp"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload ||
        die "pg_ctlcluster $ver $name reload failed"
}

ensure_postgres() {
    if ! have psql && tcp_open "$PG_PORT"; then
        log "PostgreSQL: port $PG_PORT answers but psql is missing; cannot check logins, assuming it works"
        return 0
    fi
    if tcp_open "$PG_PORT" && pg_works "$PG_ADMIN_URL"; then
        log "PostgreSQL: already running and accepting $CONTRACT_DATABASE_URL"
        return 0
    fi
    if ! tcp_open "$PG_PORT"; then
        if ! have pg_ctlcluster || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
            apt_install postgresql
        fi
        pg_start_installed
    fi
    # Also when the port was open: a server that is still starting refuses logins for a moment,
    # which must not be taken for an authentication problem.
    wait_until "$WAIT_SECS" "PostgreSQL: accepting connections" pg_ready ||
        die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within ${WAIT_SECS}s"
    if ! pg_works "$PG_ADMIN_URL"; then
        pg_trust_loopback
        wait_until 10 "PostgreSQL: passwordless loopback logins work" pg_works "$PG_ADMIN_URL" ||
            die "PostgreSQL still rejects $PG_ADMIN_URL: $(psql "$PG_ADMIN_URL" -XAtqc 'select 1' 2>&1 | head -n 1)"
    fi
    log "PostgreSQL: ready for $CONTRACT_DATABASE_URL"
}

# ---------------------------------------------------------------- RabbitMQ

# The broker's answer to an AMQP 0-9-1 protocol header is a Connection.Start method frame
# (frame type 1). Needs no Erlang cookie, unlike rabbitmq-diagnostics, so it works unprivileged.
amqp_answers() {
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$AMQP_PORT
        printf 'AMQP\\x00\\x00\\x09\\x01' >&3
        head -c 1 <&3 | od -An -tx1" 2>/dev/null | grep -q '01'
}

# Up = the broker answers the AMQP handshake. This is deliberately not `rabbitmq-diagnostics
# ping`: that boots an Erlang VM (1 s idle, 15 s measured on 2 busy cores) and needs the Erlang
# cookie (root or rabbitmq only), while the handshake takes milliseconds, works for any user and
# proves more: RabbitMQ opens its AMQP listener only once it has fully booted.
rabbit_up() { tcp_open "$AMQP_PORT" && amqp_answers; }

rabbit_log_tail() {
    local f
    for f in /var/log/rabbitmq/*.log; do
        [[ -f "$f" ]] && {
            echo "--- last lines of $f" >&2
            tail -n 15 "$f" >&2
        }
    done
    return 0
}

ensure_rabbitmq() {
    if rabbit_up; then
        log "RabbitMQ: already running on 127.0.0.1:$AMQP_PORT"
    elif tcp_open "$AMQP_PORT"; then
        # Something listens but does not speak AMQP (yet): give it a moment, then give up.
        wait_until 10 "RabbitMQ: answers the AMQP handshake" rabbit_up ||
            die "something listens on 127.0.0.1:$AMQP_PORT but does not answer an AMQP handshake"
    else
        if ! have rabbitmq-server; then
            apt_install rabbitmq-server
        fi
        log "starting RabbitMQ (rabbitmq-server -detached)"
        as_root rabbitmq-server -detached || die "rabbitmq-server -detached failed"
        # Poll: `rabbitmqctl await_startup` fails when called before the node exists. The
        # handshake answers once the node has booted and its listener is open (~7-10 s).
        if ! wait_until "$WAIT_SECS" "RabbitMQ: started, AMQP on 127.0.0.1:$AMQP_PORT" rabbit_up; then
            rabbit_log_tail
            as_root rabbitmq-diagnostics ping --timeout 10 >&2 || true
            die "RabbitMQ did not answer on 127.0.0.1:$AMQP_PORT within ${WAIT_SECS}s"
        fi
    fi
    if [[ "$WITH_MANAGEMENT" -eq 1 ]]; then
        ensure_rabbit_management
    fi
}

mgmt_answers() { curl -fsS -u guest:guest "http://127.0.0.1:${MGMT_PORT}/api/overview" -o /dev/null; }

ensure_rabbit_management() {
    if tcp_open "$MGMT_PORT"; then
        log "RabbitMQ management: already on 127.0.0.1:$MGMT_PORT"
        return 0
    fi
    log "enabling the RabbitMQ management plugin"
    as_root rabbitmq-plugins enable rabbitmq_management >/dev/null ||
        die "rabbitmq-plugins enable rabbitmq_management failed"
    local probe=(tcp_open "$MGMT_PORT")
    have curl && probe=(mgmt_answers)
    wait_until "$WAIT_SECS" "RabbitMQ management: HTTP API on 127.0.0.1:$MGMT_PORT" "${probe[@]}" ||
        die "the management plugin is enabled but 127.0.0.1:$MGMT_PORT does not answer"
}

ensure_postgres
ensure_rabbitmq
log "ready: DATABASE_URL=$CONTRACT_DATABASE_URL AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
