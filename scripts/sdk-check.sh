#!/usr/bin/env bash
# Runs Alibaba's official Python SDK against `id2meta mock-upstream` in its default
# (V3) mode and in V2 mode; exits non-zero on any difference (scripts/sdk-check.py).
#
# Starts the mock on a free port and stops it at exit. Installs the SDK into a venv
# under target/ when it is not importable already (PyPI must be reachable then).
# ID2META_BIN names a built binary to use instead of `cargo run`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The mock and the SDK both fall back to testid / testsecret.
unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET

SDK=alibabacloud_cloudauth-intl20220809
VENV=target/sdk-venv
PYTHON=python3
if ! "$PYTHON" -c 'import alibabacloud_cloudauth_intl20220809' 2>/dev/null; then
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    PYTHON="$VENV/bin/python"
    if ! "$PYTHON" -c 'import alibabacloud_cloudauth_intl20220809' 2>/dev/null; then
        echo "sdk-check: installing $SDK into $VENV"
        "$VENV/bin/pip" install --quiet "$SDK"
    fi
fi

if [ -n "${ID2META_BIN:-}" ]; then
    BIN="$ID2META_BIN"
else
    cargo build --quiet --locked --bin id2meta
    BIN=target/debug/id2meta
fi

LOG=$(mktemp)
# Port 0: the mock picks a free port and prints it.
"$BIN" mock-upstream --listen 127.0.0.1:0 >"$LOG" 2>&1 &
MOCK=$!
trap 'kill "$MOCK" 2>/dev/null || true; wait "$MOCK" 2>/dev/null || true; rm -f "$LOG"' EXIT

ENDPOINT=
for _ in $(seq 1 100); do
    ENDPOINT=$(sed -n 's#^mock upstream listening on http://##p' "$LOG")
    [ -n "$ENDPOINT" ] && break
    if ! kill -0 "$MOCK" 2>/dev/null; then
        cat "$LOG" >&2
        echo "sdk-check: the mock did not start" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$ENDPOINT" ]; then
    echo "sdk-check: the mock did not say where it listens" >&2
    exit 1
fi

"$PYTHON" scripts/sdk-check.py "$ENDPOINT"
