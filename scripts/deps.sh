#!/usr/bin/env bash
# Installs what building and testing libws101 needs, and nothing else.
#
# Idempotent: packages from scripts/apt-packages.txt are installed only when
# dpkg says they are missing (so a second run does no network I/O at all), and
# `npm install` in tests/node runs only when node_modules is missing or older
# than package.json.
set -euo pipefail
cd "$(dirname "$0")/.."

list=scripts/apt-packages.txt
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

# A package counts as present when dpkg has it installed or when an installed
# package Provides it (NodeSource's nodejs provides and conflicts with npm).
provided=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null |
  awk '$1 == "ii" { $1 = ""; print }' | tr ',' '\n' |
  sed -E 's/\(.*\)//; s/^ +//; s/ +$//' | grep -v '^$' | tr '\n' ' ') "

missing=()
while IFS= read -r line; do
  pkg="${line%%#*}"
  pkg="$(echo "$pkg" | tr -d '[:space:]')"
  [ -n "$pkg" ] || continue
  if dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    continue
  fi
  case "$provided" in
    *" $pkg "*) continue ;;
  esac
  missing+=("$pkg")
done <"$list"

if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "deps: all apt packages present"
fi

if [ -f tests/node/package.json ]; then
  if [ ! -d tests/node/node_modules ] ||
    [ tests/node/package.json -nt tests/node/node_modules ]; then
    echo "deps: npm install in tests/node"
    (cd tests/node && npm install --no-audit --no-fund)
    touch tests/node/node_modules
  else
    echo "deps: tests/node/node_modules up to date"
  fi
fi
