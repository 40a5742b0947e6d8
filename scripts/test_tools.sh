#!/usr/bin/env bash
# The system programs some tests drive: Debian's chromium (the Dagster UI test), promtool
# (Prometheus rules and config) and docker-compose (the compose file's schema). Installed with
# apt-get when missing and this runs as root; otherwise the tests that need them skip and say
# what to install. Never fails `make test`: a missing tool is a skipped test, not an error.
set -uo pipefail

declare -A package=([chromium]=chromium [promtool]=prometheus [docker-compose]=docker-compose)
missing=()
for tool in "${!package[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${package[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: ${missing[*]} not installed (apt-get install ${missing[*]}): their tests will skip"
  exit 0
fi
echo "installing ${missing[*]} (Debian packages) for the tests that drive them"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/tmp/underdog-test-tools.log 2>&1; then
  echo "note: apt-get could not install ${missing[*]} (see /tmp/underdog-test-tools.log):" \
       "their tests will skip"
fi
exit 0
