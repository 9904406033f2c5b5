#!/usr/bin/env bash
# The README's test command: make PostgreSQL and RabbitMQ reachable, then run every test.
#
# Why both steps in one script: the integration tests under tests/ talk to real sockets
# (DATABASE_URL / AMQP_URL, defaults from the contract), so a test run without the services
# only reports connection errors. scripts/services.sh is fast when they already run.
#
# Usage: scripts/test.sh [extra cargo test arguments]
#   e.g. scripts/test.sh -- --nocapture        scripts/test.sh --test end_to_end
# Extra arguments go to `cargo test --all-targets` and to `cargo test --doc`; the doc-test run
# is skipped when they select targets themselves (--test, --lib, ...), which --doc refuses.
# Expects root or sudo only if a service has to be started or installed.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
finish() {
    local rc=$?
    if [[ $rc -eq 0 ]]; then
        echo "test.sh: PASSED (${step}) in $((SECONDS - started))s"
    else
        echo "test.sh: FAILED at: ${step} (exit $rc) after $((SECONDS - started))s" >&2
    fi
}
trap finish EXIT

# The management plugin lets tests read queue depths the way KEDA does.
step="scripts/services.sh"
scripts/services.sh --with-management

step="cargo test --all-targets $*"
cargo test --all-targets "$@"

run_doc=1
for arg in "$@"; do
    [[ "$arg" == "--" ]] && break
    case "$arg" in
        --lib | --bin | --bin=* | --bins | --test | --test=* | --tests | --example | --example=* | \
            --examples | --bench | --bench=* | --benches | --all-targets) run_doc=0 ;;
    esac
done
if [[ $run_doc -eq 1 ]]; then
    step="cargo test --doc $*"
    cargo test --doc "$@"
    step="all targets and doc tests"
else
    step="selected targets; doc tests skipped"
fi
