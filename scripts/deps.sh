#!/usr/bin/env bash
# deps.sh: installs, with apt-get, the Debian packages the project needs and
# the machine lacks. Idempotent: when everything is there it does nothing.
# Usage: scripts/deps.sh [GROUP...]   groups: core (default), bench, jmeter, browser, fuzz
set -euo pipefail

core=(gcc make pkg-config libc6-dev
      libh2o-evloop-dev libhiredis-dev libmariadb-dev libssl-dev libjansson-dev
      libcmocka-dev libcurl4-openssl-dev zlib1g-dev
      redis-server redis-tools mariadb-server mariadb-client
      curl openssl procps iproute2 haproxy)
bench=(wrk nghttp2-client libnghttp2-dev redis-tools mariadb-client curl)
jmeter=(jmeter jmeter-http default-jdk-headless)
browser=(chromium)
# node and npm: Debian's nodejs + npm, unless the machine already has both
# commands (e.g. a nodejs package that bundles npm, which Debian's npm
# package would conflict with).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    browser+=(nodejs npm)
fi
fuzz=(clang libclang-rt-14-dev)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(core)
want=()
for g in "${groups[@]}"; do
    case "$g" in
        core) want+=("${core[@]}") ;;
        bench) want+=("${bench[@]}") ;;
        jmeter) want+=("${jmeter[@]}") ;;
        browser) want+=("${browser[@]}") ;;
        fuzz) want+=("${fuzz[@]}") ;;
        *) echo "deps.sh: unknown group '$g' (core, bench, jmeter, browser, fuzz)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: these packages are missing: ${missing[*]}" >&2
    echo "deps.sh: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Debian's maintainer scripts try to start redis and mariadb through
# invoke-rc.d; we run our own instances under var/, so never start theirs.
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: done"
