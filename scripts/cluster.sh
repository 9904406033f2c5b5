#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, for the cluster fault test (tests/cluster.rs).
#
# Why a script: a quorum queue only shows what it is for (a leader that fails over, followers
# that catch up) with three nodes, and CI has one machine. Each node gets its own name, ports,
# data and logs under one directory, and its own configuration, so the machine's main RabbitMQ
# (rabbit@localhost on 5672, its /etc/rabbitmq files, its cookie) is never touched.
#
#   node               AMQP    distribution
#   id2meta-c1@localhost 5681    25681
#   id2meta-c2@localhost 5682    25682
#   id2meta-c3@localhost 5683    25683
#
# Usage: scripts/cluster.sh start|stop|status|stop-node N|start-node N|leader QUEUE|members QUEUE
#   start         start the three nodes (those not running) and join c2, c3 to c1; idempotent
#   stop          stop every node and delete the cluster's directory
#   status        the cluster's members and running nodes, and each node's AMQP port
#   stop-node N   stop node N (1-3) only, as a crash of that machine would (its data is kept)
#   start-node N  start node N again; it rejoins the cluster from its own data
#   leader QUEUE  print the node that leads quorum queue QUEUE (e.g. id2meta-c1@localhost)
#   members QUEUE print the nodes that hold a replica of QUEUE, one a line
# Environment:
#   ID2META_CLUSTER_DIR     where data, logs and the cookie live (default /tmp/id2meta-cluster)
#   ID2META_CLUSTER_PORT    AMQP port of c1; c2 and c3 follow it (default 5681)
#   CLUSTER_WAIT_SECS       how long to wait for a node to answer (default 90)
set -euo pipefail

DIR="${ID2META_CLUSTER_DIR:-/tmp/id2meta-cluster}"
PORT_BASE="${ID2META_CLUSTER_PORT:-5681}"
WAIT_SECS="${CLUSTER_WAIT_SECS:-90}"
# The tools themselves, not Debian's /usr/sbin wrappers: those switch to the rabbitmq user and
# its home, where the main node's cookie lives.
BIN=/usr/lib/rabbitmq/bin

log() { echo "cluster: $*"; }
die() {
    echo "cluster: ERROR: $*" >&2
    exit 1
}

node_name() { echo "id2meta-c$1@localhost"; }
amqp_port() { echo $((PORT_BASE + $1 - 1)); }

# The environment of node N (and of the CLI tools that talk to it).
node_env() {
    local n="$1"
    local home="$DIR/c$n"
    # One HOME for the whole cluster: the CLI tools and the nodes read the same cookie there.
    export HOME="$DIR"
    export RABBITMQ_NODENAME
    RABBITMQ_NODENAME="$(node_name "$n")"
    export RABBITMQ_NODE_PORT
    RABBITMQ_NODE_PORT="$(amqp_port "$n")"
    # Distribution on a port of its own, so it never meets the main node's 25672.
    export RABBITMQ_DIST_PORT=$((RABBITMQ_NODE_PORT + 20000))
    export RABBITMQ_MNESIA_BASE="$home/mnesia"
    export RABBITMQ_LOG_BASE="$home/log"
    export RABBITMQ_PID_FILE="$home/pid"
    export RABBITMQ_CONFIG_FILE="$home/rabbitmq.conf"
    # An empty env file and no plugins: /etc/rabbitmq's NODENAME and plugin list are the main node's.
    export RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$home/advanced.config"
    # Loopback only, like the main node.
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

ctl() {
    local n="$1"
    shift
    (node_env "$n" && "$BIN/rabbitmqctl" -n "$(node_name "$n")" "$@")
}

prepare() {
    mkdir -p "$DIR"
    if [[ ! -f "$DIR/.erlang.cookie" ]]; then
        # The cookie the three nodes share (and nobody else has).
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/.erlang.cookie"
        chmod 400 "$DIR/.erlang.cookie"
    fi
    : >"$DIR/rabbitmq-env.conf"
    echo "[]." >"$DIR/enabled_plugins"
    local n
    for n in 1 2 3; do
        mkdir -p "$DIR/c$n/mnesia" "$DIR/c$n/log"
        cat >"$DIR/c$n/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
# guest only over loopback (the default, said aloud): the tests connect to 127.0.0.1.
loopback_users.guest = true
log.file.level = info
EOF
        echo "[]." >"$DIR/c$n/advanced.config"
    done
}

running() { ctl "$1" -q status >/dev/null 2>&1; }

wait_node() {
    local n="$1" waited=0
    until (node_env "$n" && "$BIN/rabbitmq-diagnostics" -n "$(node_name "$n")" -q ping) >/dev/null 2>&1; do
        ((waited++ < WAIT_SECS * 2)) || die "$(node_name "$n") did not answer within ${WAIT_SECS}s (logs: $DIR/c$n/log)"
        sleep 0.5
    done
    ctl "$n" -q await_startup --timeout "$WAIT_SECS" >/dev/null
}

start_node() {
    local n="$1"
    if running "$n"; then
        log "$(node_name "$n") already runs"
        return
    fi
    prepare
    (node_env "$n" && "$BIN/rabbitmq-server" -detached) >>"$DIR/c$n/log/startup.log" 2>&1
    wait_node "$n"
    log "$(node_name "$n") runs (AMQP $(amqp_port "$n"))"
}

stop_node() {
    local n="$1"
    if running "$n"; then
        ctl "$n" -q stop >/dev/null
        log "$(node_name "$n") stopped"
    fi
}

member() { ctl 1 -q cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name "$1")\""; }

join() {
    local n="$1"
    if member "$n"; then
        return
    fi
    ctl "$n" -q stop_app
    ctl "$n" -q join_cluster "$(node_name 1)"
    ctl "$n" -q start_app
    ctl "$n" -q await_startup --timeout "$WAIT_SECS" >/dev/null
    log "$(node_name "$n") joined $(node_name 1)"
}

start() {
    local started=$SECONDS n
    # Started one after the other: three cold boots at once on two cores only take longer.
    for n in 1 2 3; do start_node "$n"; done
    for n in 2 3; do join "$n"; done
    log "three nodes up and joined in $((SECONDS - started))s"
}

stop() {
    local n
    for n in 3 2 1; do stop_node "$n"; done
    rm -rf "$DIR"
    log "stopped; $DIR removed"
}

status() {
    local n state
    ctl 1 cluster_status
    for n in 1 2 3; do
        if running "$n"; then state=running; else state=stopped; fi
        echo "$(node_name "$n") amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/%2f $state"
    done
}

leader() {
    local queue="$1" n
    for n in 1 2 3; do
        if running "$n"; then
            # name<TAB>leader, for quorum queues.
            ctl "$n" -q list_queues name leader --no-table-headers |
                awk -v q="$queue" '$1 == q { print $2; found = 1 } END { exit !found }' && return
        fi
    done
    die "no running node knows queue $queue"
}

# The replicas of a quorum queue, one node a line (rabbitmqctl prints them as an Erlang list).
members() {
    local queue="$1" n
    for n in 1 2 3; do
        if running "$n"; then
            ctl "$n" -q list_queues name members --no-table-headers |
                awk -v q="$queue" '$1 == q { $1 = ""; print; found = 1 } END { exit !found }' |
                tr -d "[]' " | tr ',' '\n' && return
        fi
    done
    die "no running node knows queue $queue"
}

node_arg() {
    [[ "${1:-}" =~ ^[123]$ ]] || die "a node number 1-3 is needed"
    echo "$1"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    stop-node) stop_node "$(node_arg "${2:-}")" ;;
    start-node) start_node "$(node_arg "${2:-}")" ;;
    leader) leader "${2:?a queue name is needed}" ;;
    members) members "${2:?a queue name is needed}" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *)
        echo "usage: scripts/cluster.sh start|stop|status|stop-node N|start-node N|leader QUEUE|members QUEUE" >&2
        exit 64
        ;;
esac
