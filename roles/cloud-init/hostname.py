"""Host names from the instance id, for user-data that many instances share (a launch template).

cloud-init cannot put the instance id into ``hostname:`` itself, so the cloud-config gets
``preserve_hostname: true`` (cloud-init then leaves the name alone instead of setting the one
EC2's metadata suggests) and a ``bootcmd`` entry that runs :data:`SCRIPT` once per instance,
early in the first boot (before packages, users and every role's script): it reads the
instance id through IMDSv2 and sets the host name, ``/etc/hostname`` and, when the pattern is
a fully qualified name, the ``127.0.1.1`` line of ``/etc/hosts``.

The pattern reaches the script as two arguments (the text before and after ``{instance_id}``),
never inside the script's text, and was checked at render time to give a valid host name.
"""

from __future__ import annotations

from typing import Any

PLACEHOLDER = "{instance_id}"
DEFAULT_PATTERN = PLACEHOLDER
# The longest instance id EC2 hands out: patterns are checked with it.
LONGEST_ID = "i-0123456789abcdef0"
NAME = "bootstrap-hostname"

# POSIX sh: it runs from bootcmd as `sh -c SCRIPT bootstrap-hostname PREFIX SUFFIX`.
# BOOTSTRAP_IMDS_ENDPOINT, BOOTSTRAP_ATTEMPTS (default 10) and BOOTSTRAP_ROOT (a folder standing
# for /) are for tests.
SCRIPT = r"""set -eu
imds=${BOOTSTRAP_IMDS_ENDPOINT:-http://169.254.169.254}
root=${BOOTSTRAP_ROOT:-}
tries=${BOOTSTRAP_ATTEMPTS:-10}
say() { printf 'bootstrap-hostname: %s\n' "$*" >&2; }
instance_id() {
  if command -v curl >/dev/null 2>&1; then
    token=$(curl -fsS --connect-timeout 2 --max-time 5 -X PUT \
      -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/latest/api/token") || return 1
    curl -fsS --connect-timeout 2 --max-time 5 -H "X-aws-ec2-metadata-token: $token" \
      "$imds/latest/meta-data/instance-id"
  elif command -v wget >/dev/null 2>&1; then
    token=$(wget -q -O - -T 5 --method=PUT \
      --header='X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/latest/api/token") || return 1
    wget -q -O - -T 5 --header="X-aws-ec2-metadata-token: $token" \
      "$imds/latest/meta-data/instance-id"
  else
    say "error: neither curl nor wget is installed: cannot read the instance id"
    exit 1
  fi
}
try=1
until id=$(instance_id); do
  if [ "$try" -ge "$tries" ]; then
    say "error: no instance id from IMDSv2 at $imds after $try tries; the host name is unchanged"
    exit 1
  fi
  sleep "$try"
  try=$((try + 1))
done
case ${id#i-} in
  "$id" | "" | *[!0-9a-f]*) say "error: IMDS gave an unexpected instance id"; exit 1 ;;
esac
name=$1$id$2
host=${name%%.*}
printf '%s\n' "$host" > "$root/etc/hostname"
hostname "$host" 2>/dev/null || hostnamectl --transient set-hostname "$host"
if [ "$name" != "$host" ]; then
  hosts="$root/etc/hosts"
  touch "$hosts"
  grep -v '^127\.0\.1\.1[[:space:]]' "$hosts" > "$hosts.bootstrap" || true
  printf '127.0.1.1 %s %s\n' "$name" "$host" >> "$hosts.bootstrap"
  chmod 644 "$hosts.bootstrap"
  mv -f "$hosts.bootstrap" "$hosts"
fi
say "host name: $name"
"""


def config(pattern: str) -> dict[str, Any]:
    """The cloud-config keys that name the instance after its id by ``pattern``."""
    prefix, _, suffix = pattern.partition(PLACEHOLDER)
    return {
        "preserve_hostname": True,
        "bootcmd": [["cloud-init-per", "instance", NAME, "sh", "-c", SCRIPT, NAME, prefix,
                     suffix]],
    }
