#!/usr/bin/env bash
# System packages the test suite needs: Debian's chromium (browser tests) and Node.js/npm
# (panva's oidc-provider and axe-core, installed by the tests from their lock files); wrk for bench/.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # the load generator of bench/ingest.py
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing system packages: ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
