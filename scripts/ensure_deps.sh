#!/usr/bin/env bash
# Install the Debian packages kotanet needs (as root), or name the missing ones and how to get them.
# Usage: APT_PACKAGES="mosquitto iperf3 ..." scripts/ensure_deps.sh   (the Makefile passes its list)
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

read -r -a wanted <<<"${APT_PACKAGES:-mosquitto mosquitto-clients}"
missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#wanted[@]} Debian packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  echo "deps: (or run 'sudo make deps' once; the other targets then work as a normal user)" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
