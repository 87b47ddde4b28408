#!/usr/bin/env bash
# Installs every test dependency (Debian packages, then a virtualenv with the PyPI packages and
# this project) and runs the whole test suite. Extra arguments go to pytest.
#
# What it changes on the machine, besides installing the packages of requirements/apt-*.txt and
# creating .venv: if cloud-init was not installed before, /etc/cloud/cloud-init.disabled, so that
# the cloud-init installed for its schema never configures this machine at its next boot (remove
# the file to let it). Packaged daemons (frr, bird, openbgpd, docker, ...) do not start while
# they are installed: a policy-rc.d says so during the installation only.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
packages=$(cat requirements/apt-*.txt | sed 's/#.*//' | xargs)
root=()
if [ "$(id -u)" != 0 ]; then root=(sudo); fi

policy=/usr/sbin/policy-rc.d
made_policy=
remove_policy() { if [ "$made_policy" ]; then "${root[@]}" rm -f "$policy"; made_policy=; fi; }
if [ ! -e "$policy" ]; then
  made_policy=1
  printf '#!/bin/sh\n# written by scripts/test.sh for one apt-get install, then removed\nexit 101\n' \
    | "${root[@]}" tee "$policy" >/dev/null
  "${root[@]}" chmod +x "$policy"
  trap remove_policy EXIT
  echo "test.sh: $policy keeps packaged daemons from starting while the test packages install"
fi
if ! dpkg-query -W -f '${Status}' cloud-init 2>/dev/null | grep -q 'ok installed'; then
  "${root[@]}" mkdir -p /etc/cloud
  "${root[@]}" touch /etc/cloud/cloud-init.disabled
  echo "test.sh: wrote /etc/cloud/cloud-init.disabled: cloud-init is installed for its schema and" \
       "must not configure this machine (remove the file to let it)"
fi
"${root[@]}" apt-get update -qq
# shellcheck disable=SC2086  # one word per package
"${root[@]}" apt-get install -y -qq --no-install-recommends $packages >/dev/null
remove_policy

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
requirements=()
for f in requirements/pip-*.txt; do requirements+=(-r "$f"); done
.venv/bin/pip install -q -e ".[all]" "${requirements[@]}"

.venv/bin/ruff check bootstrap roles tests benchmarks
exec .venv/bin/python -m pytest "$@"
