#!/usr/bin/env bash
# Installs the servers and browser the test suite drives for real (redis-server, chromium, chromedriver).
# Only where apt-get is usable as root; elsewhere the tests that need them skip and say why.
set -u
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: missing ${need[*]} (not root or no apt-get): the tests that need them will be skipped" >&2
  exit 0
fi
echo "system_deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "system_deps: apt-get failed; the tests that need ${need[*]} will be skipped" >&2
exit 0
