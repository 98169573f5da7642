#!/usr/bin/env bash
# Installs everything acoustic-edge needs on a Debian 12 machine, idempotently:
#   - the C libraries and tools from Debian (ALSA, FFTW, libmosquitto + broker, OpenBLAS,
#     libsndfile, libsoxr, libsystemd, zlib, libpng, libcrypto);
#   - a Python venv (.venv, or $AE_VENV) with the reference libraries the parity tests run
#     (noisereduce, torchaudio, demucs, torch from the local CPU wheel) and the training toolkit's needs.
# A second run with nothing to do takes about a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

debian_packages=(
    libasound2-dev alsa-utils
    libfftw3-dev
    libmosquitto-dev mosquitto mosquitto-clients
    libopenblas-dev
    libsndfile1-dev
    libsoxr-dev
    libsystemd-dev systemd
    zlib1g-dev libpng-dev
    libssl-dev
    pkg-config
    openssl
)
missing=()
for p in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv="${AE_VENV:-$root/.venv}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum requirements-dev.txt | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: preparing the Python venv at $venv"
    python3 -m venv "$venv"
    # torch==2.13.0 resolves to the CPU wheel in pip's find-links (/opt/wheels on these
    # machines); never let pip pick another torch, which would pull a CUDA build.
    "$venv/bin/pip" install -q -r requirements-dev.txt
    echo "$want" > "$stamp"
fi
