#!/usr/bin/env bash
# Installs the few system packages va needs, through apt-get, only when missing:
#   libportaudio2  sounddevice's PortAudio library (microphone and speaker)
#   redis-server   the shared cache backend (the tests start their own server)
#   espeak-ng      a second synthetic voice for speech tests
#   pulseaudio, pulseaudio-utils, libasound2-plugins
#                  a private sound server with virtual devices for the tests and
#                  `va bench voice --device` (no sound card needed; no system config
#                  is changed: ALSA's pulse plugin follows PULSE_SERVER per process)
set -euo pipefail
packages=(libportaudio2 redis-server espeak-ng pulseaudio pulseaudio-utils libasound2-plugins)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${packages[*]})"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system packages missing: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "system packages missing: ${missing[*]} (run as root, or install them by hand)" >&2
    exit 1
  fi
fi
echo "installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
