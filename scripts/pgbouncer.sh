#!/usr/bin/env bash
# A PgBouncer of our own in transaction pooling mode, in front of the shared
# PostgreSQL (127.0.0.1:5432, trust), for the tests that run through it.
#
# Usage: scripts/pgbouncer.sh start|stop|url [PORT]   (default port 6432)
#   start  installs pgbouncer if missing (Debian), writes its config to a temp
#          directory of its own and starts it in the background; idempotent.
#   stop   stops the one this script started (by its pid file).
#   url    prints the DATABASE_URL server part to use: postgres://postgres@127.0.0.1:PORT
# Every database name is passed through (`* = ...`), so each test's own database
# works; auth is trust, as on the server behind it. Server-side bounds are the
# worker's business (SET LOCAL per transaction); keepalives here are PgBouncer's.
set -euo pipefail

action="${1:-start}"
port="${2:-6432}"
dir="${TMPDIR:-/tmp}/id2meta-pgbouncer-${port}"
pidfile="${dir}/pgbouncer.pid"

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$action" in
    url)
        echo "postgres://postgres@127.0.0.1:${port}"
        ;;
    stop)
        if running; then
            kill "$(cat "$pidfile")"
            echo "pgbouncer on ${port} stopped"
        fi
        ;;
    start)
        if running; then
            echo "pgbouncer already running on ${port}"
            exit 0
        fi
        if ! command -v pgbouncer >/dev/null 2>&1 && [[ ! -x /usr/sbin/pgbouncer ]]; then
            sudo_="" && [[ $(id -u) -ne 0 ]] && sudo_="sudo"
            $sudo_ apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq pgbouncer
        fi
        bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
        mkdir -p "$dir"
        printf '"postgres" ""\n' >"${dir}/userlist.txt"
        cat >"${dir}/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${dir}/userlist.txt
pool_mode = transaction
; Enough server sessions for a test run; clients beyond them wait.
default_pool_size = 20
max_client_conn = 1000
; A vanished client or server is noticed by PgBouncer's own keepalives.
tcp_keepalive = 1
tcp_keepidle = 30
tcp_keepintvl = 10
tcp_keepcnt = 3
pidfile = ${pidfile}
logfile = ${dir}/pgbouncer.log
INI
        # pgbouncer refuses to run as root.
        if [[ $(id -u) -eq 0 ]]; then
            chown -R postgres "$dir"
            runuser -u postgres -- "$bin" -d "${dir}/pgbouncer.ini"
        else
            "$bin" -d "${dir}/pgbouncer.ini"
        fi
        for _ in $(seq 1 50); do
            running && break
            sleep 0.1
        done
        running || { echo "pgbouncer did not start; see ${dir}/pgbouncer.log" >&2; exit 1; }
        echo "pgbouncer (transaction pooling) on 127.0.0.1:${port} in front of 127.0.0.1:5432"
        ;;
    *)
        echo "usage: $0 start|stop|url [PORT]" >&2
        exit 2
        ;;
esac
