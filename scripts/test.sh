#!/usr/bin/env bash
# Installs every test dependency (Debian packages, then a virtualenv with the PyPI packages and
# this project) and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
packages=$(cat requirements/apt-*.txt | sed 's/#.*//' | xargs)
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  # policy-rc.d keeps packaged daemons from starting: each test starts what it needs.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  # cloud-init is installed for its schema; it must never configure this machine.
  mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
else
  sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[all]" $(for f in requirements/pip-*.txt; do printf -- '-r %s ' "$f"; done)

.venv/bin/ruff check bootstrap tests benchmarks
exec .venv/bin/python -m pytest "$@"
