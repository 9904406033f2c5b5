#!/usr/bin/env bash
# Installs what tests/console.rs drives: Debian's headless-capable `chromium` and the
# matching `chromium-driver` (chromedriver), only where either is missing, then prints
# their versions. Runs as root (CI) or through sudo.
set -euo pipefail

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "chromium or chromedriver missing: installing Debian's chromium and chromium-driver"
    # One index refresh, then only the two packages (no recommends: no desktop extras).
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium chromium-driver
fi

chromium --version
chromedriver --version
