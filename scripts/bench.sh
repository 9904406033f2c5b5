#!/usr/bin/env bash
# The benchmark of docs/benchmarks.md, in one command: make PostgreSQL and RabbitMQ reachable,
# build in release mode (a debug build measures the compiler, not the worker), run
# `id2meta bench`. The table (Markdown) goes to stdout, progress to stderr.
#
# Usage: scripts/bench.sh [arguments for `id2meta bench`, see `cargo run -- bench --help`]
#   scripts/bench.sh                 the full run (about 2-3 minutes on 2 cores)
#   scripts/bench.sh --quick         a smoke run of a few hundred jobs (CI)
#   scripts/bench.sh --perf-record /tmp/worker.perf.data   also profile the worker process
# Environment: DATABASE_URL, AMQP_URL as for the worker. RUST_LOG defaults to `warn` here so
# the in-process workers of sections 1-4 do not log every job over the progress lines; the
# worker process of section 5 always logs as in production (info, JSON), to a file.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
export RUST_LOG="${RUST_LOG:-warn}"
exec cargo run --release --locked -- bench "$@"
