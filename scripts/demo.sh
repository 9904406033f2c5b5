#!/usr/bin/env bash
# The README's demo command: make PostgreSQL and RabbitMQ reachable, then run `id2meta demo`,
# which starts the mock upstream in-process, a worker, enqueues a sample batch, waits for it
# and prints the summary. Nothing else is needed (no Alibaba Cloud account).
#
# Usage: scripts/demo.sh [arguments for `id2meta demo`, see `cargo run -- demo --help`]
# Expects root or sudo only if a service has to be started or installed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
exec cargo run --release --locked -- demo "$@"
