#!/usr/bin/env bash
# Checks the published schemas and the AsyncAPI document, then runs the producer examples
# (examples/python with pika, examples/node with amqplib) against the real broker and a real
# worker, which calls the mock upstream. Contract rev 3, "Schemas and producers".
#
#   1. installs the pinned dependencies: pip into target/examples-venv, `npm ci` in
#      examples/node and scripts/schema-tools (install scripts off: no telemetry);
#   2. schemas/*.schema.json against the 2020-12 metaschema, their examples and a table of
#      accepted and refused messages, under Python's jsonschema and under ajv (the same
#      patterns must mean the same in both regex dialects);
#   3. docs/asyncapi.yaml with the AsyncAPI parser (spec, bindings, $refs), its examples
#      against the schemas;
#   4. starts `id2meta mock-upstream` and `id2meta worker` on queues of this run's own
#      (id2meta.examples.<pid>.*) and database id2meta_examples, waits for /readyz, runs both
#      examples (each publishes a batch with confirms and waits for every completion, valid),
#      checks that the worker's log names no identity, and deletes the run's queues.
#
# Needs PostgreSQL and RabbitMQ (scripts/services.sh), python3 with venv, node 20 and npm;
# PyPI and npm must be reachable unless the dependencies are installed already.
# ID2META_BIN names a built binary to use instead of `cargo build`.
# Usage: scripts/examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VENV=target/examples-venv
say() { printf 'examples: %s\n' "$*" >&2; }
trap 'say "FAILED at line $LINENO (exit $?)"' ERR

say "dependencies (pip: examples/python/requirements.txt; npm ci: examples/node, scripts/schema-tools)"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r examples/python/requirements.txt
for dir in examples/node scripts/schema-tools; do
    # --ignore-scripts: nothing here needs an install script, and @asyncapi/parser's
    # dependency tree carries a telemetry postinstall (scarf), also off by SCARF_ANALYTICS.
    (cd "$dir" && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
done

# Scratch space under target/ (ours alone: a shared /tmp may be swept by other runs).
mkdir -p target
WORK=$(mktemp -d "$ROOT/target/examples.XXXXXX")
say "schemas: the 2020-12 metaschema, examples, accepted and refused messages (jsonschema, then ajv)"
"$VENV/bin/python" scripts/schema-tools/check-schemas.py --cases "$WORK/cases.json" schemas
node scripts/schema-tools/check-cases.mjs "$WORK/cases.json" schemas
say "AsyncAPI: docs/asyncapi.yaml"
node scripts/schema-tools/check-asyncapi.mjs docs/asyncapi.yaml

if [ -n "${ID2META_BIN:-}" ]; then
    BIN=$(realpath "$ID2META_BIN")
else
    cargo build --quiet --locked --bin id2meta
    BIN=$ROOT/target/debug/id2meta
fi

# This run's own broker objects: nothing another test or a real worker uses.
PREFIX="id2meta.examples.$$"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export ID2META_JOBS_QUEUE="$PREFIX.jobs"
export ID2META_RESULTS_EXCHANGE="$PREFIX.results"
MOCK= WORKER=
cleanup() {
    for pid in $WORKER $MOCK; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # The queues and the exchange the worker declared for this run (it has stopped).
    "$VENV/bin/python" - "$PREFIX" <<'PY' || true
import os, sys, pika
prefix = sys.argv[1]
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
channel = connection.channel()
for suffix in ("jobs", "jobs.interactive", "jobs.dead", "jobs.dead.intake", "results"):
    channel.queue_delete(f"{prefix}.{suffix}")
channel.exchange_delete(f"{prefix}.results")
connection.close()
PY
    rm -rf "$WORK"
}
trap cleanup EXIT

# Port 0: the mock picks a free port and prints it.
"$BIN" mock-upstream --listen 127.0.0.1:0 >"$WORK/mock.log" 2>&1 &
MOCK=$!
ENDPOINT=
for _ in $(seq 1 100); do
    ENDPOINT=$(sed -n 's#^mock upstream listening on ##p' "$WORK/mock.log")
    [ -n "$ENDPOINT" ] && break
    kill -0 "$MOCK" 2>/dev/null || { cat "$WORK/mock.log" >&2; say "the mock did not start"; exit 1; }
    sleep 0.1
done
[ -n "$ENDPOINT" ] || { say "the mock did not say where it listens"; exit 1; }

HTTP_PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "worker on $PREFIX.*, mock at $ENDPOINT, /readyz on 127.0.0.1:$HTTP_PORT"
# Run from the scratch directory, so that no developer's .env changes the worker's settings.
(
    cd "$WORK"
    exec env DATABASE_URL="${EXAMPLES_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/id2meta_examples}" \
        ID2META_ENDPOINT="$ENDPOINT" \
        ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret \
        ID2META_PII_KEY="examples-$$-$RANDOM$RANDOM" \
        ID2META_HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
        ID2META_LOG_FORMAT=json RUST_LOG=info \
        "$BIN" worker
) >"$WORK/worker.log" 2>&1 &
WORKER=$!
ready=0
for _ in $(seq 1 240); do
    if "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "http://127.0.0.1:$HTTP_PORT/readyz" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$WORKER" 2>/dev/null || break
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    tail -n 30 "$WORK/worker.log" >&2
    say "the worker did not become ready"
    exit 1
fi

status=0
say "examples/python (pika)"
TIMEOUT_SECS=120 "$VENV/bin/python" examples/python/publish_batch.py || status=1
say "examples/node (amqplib)"
TIMEOUT_SECS=120 node examples/node/publish-batch.mjs || status=1

# The examples' identities must not appear in the worker's log (contract: never logged).
if grep -E -q '11010519491231002X|310104198506120422|44030519920304913X|110105194912310021|510107200109080072|刘明|李四|王五|赵六|胡强平' "$WORK/worker.log"; then
    say "the worker's log names an identity"
    status=1
fi
if [ "$status" != 0 ]; then
    tail -n 30 "$WORK/worker.log" >&2
    say "FAILED"
    exit 1
fi
say "passed"
