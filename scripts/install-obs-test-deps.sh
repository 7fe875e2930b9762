#!/usr/bin/env bash
# Installs what the real-OBS test (pytest -m obs) needs on Debian/Ubuntu, when it is missing:
# OBS Studio (29.x on Debian bookworm: Python 3.11 scripting, obs-websocket 5.1), Xvfb and software GL.
# OBS's embedded Python is the SYSTEM python3, so the OBS script uses only the standard library.
# Usage: sudo scripts/install-obs-test-deps.sh   (does nothing when everything is already there)
set -euo pipefail

need=0
for cmd in obs xvfb-run xauth; do
    command -v "$cmd" >/dev/null 2>&1 || need=1
done
# obs-studio alone ships no scripting or websocket: obs-plugins does (ffmpeg_source too).
if ! ls /usr/lib/*/obs-scripting/obspython.py >/dev/null 2>&1 \
   || ! ls /usr/lib/*/obs-plugins/obs-websocket.so >/dev/null 2>&1; then
    need=1
fi
if [ "$need" = 0 ]; then
    echo "install-obs-test-deps: obs, xvfb-run and the OBS plugins are already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-obs-test-deps: apt-get not found; install OBS Studio (with Python scripting) and Xvfb yourself" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-obs-test-deps: must run as root (or with sudo available)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    obs-studio obs-plugins xvfb xauth libgl1-mesa-dri >/dev/null
echo "install-obs-test-deps: installed $(obs --version 2>/dev/null | head -1)"
