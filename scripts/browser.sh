#!/usr/bin/env bash
# Installs what tests/console/ drives: Debian's headless-capable `chromium` and the
# matching `chromium-driver` (chromedriver), only where either is missing, then prints
# their versions; plus a small CJK font (fonts-wqy-microhei, 1.6 MB) so the masked names in
# the screenshots it saves under docs/console/ render as characters, not boxes.
# Runs as root (CI) or through sudo.
set -euo pipefail

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 ||
    [[ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]]; then
    echo "chromium, chromedriver or the CJK font missing: installing them from Debian"
    # One index refresh, then only these packages (no recommends: no desktop extras).
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium chromium-driver fonts-wqy-microhei
fi

chromium --version
chromedriver --version
