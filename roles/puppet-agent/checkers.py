"""Puppet reads back what bootstrap wrote: puppet.conf and csr_attributes.yaml.

``puppet config print --config FILE`` exits 0 even when it cannot parse the file (an illegal
``[section]`` makes it fall back to the defaults) and prints an unknown setting as null, so the
checker compares every value of the file with the value Puppet reports, section by section.
A file identical to one already checked (the same puppet.conf on a whole group) is not checked
again.

csr_attributes.yaml is loaded by Puppet's own loader, which then builds a certificate request
from it with a throwaway key: an unknown top-level key, an unregistered extension name or a
value the request cannot carry fails exactly as it would on the first run of the agent.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker, once_per_content
from bootstrap.validate.programs import resolve

BROUGHT_BY = {"puppet": "apt:puppet-agent", "ruby": "apt:ruby"}
SECTION = re.compile(r"\[([^\]]*)\]")
SETTING = re.compile(r"([A-Za-z0-9_]+)\s*=\s*(.*)")
DURATION = re.compile(r"(\d+)([smhdy]?)")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 31536000}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def read_conf(path: Path) -> dict[str, dict[str, str]]:
    """puppet.conf as {section: {setting: value}}, the way Puppet splits it."""
    sections: dict[str, dict[str, str]] = {}
    current = "main"
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if header := SECTION.fullmatch(line):
            current = header.group(1)
            sections.setdefault(current, {})
        elif setting := SETTING.fullmatch(line):
            sections.setdefault(current, {})[setting.group(1)] = setting.group(2)
    return sections


def print_settings(path: Path, section: str, names: list[str]) -> tuple[dict[str, Any], str]:
    """What ``puppet config print`` reports for ``names``, and the errors it printed."""
    proc = subprocess.run(
        [resolve("puppet"), "config", "print", *names, "--config", str(path), "--section", section,
         "--render-as", "json"],
        capture_output=True, text=True, timeout=120,
    )
    errors = ANSI.sub("", proc.stderr).strip()
    try:
        values = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        values = {}
    if not isinstance(values, dict):
        values = {names[0]: values}
    if proc.returncode and not errors:
        errors = f"puppet config print exited {proc.returncode}"
    return values, errors


def same(written: str, printed: Any) -> bool:
    """Puppet reports durations in seconds and numbers as numbers; compare what they mean."""
    if printed is None:
        return False
    if isinstance(printed, bool):
        return written.lower() == str(printed).lower()
    if isinstance(printed, int) and (match := DURATION.fullmatch(written)):
        return int(match.group(1)) * SECONDS[match.group(2)] == printed
    return written == str(printed)


@once_per_content
def check_conf(path: Path, record: FileRecord, folder: Path) -> list[str]:
    problems = []
    for section, settings in read_conf(path).items():
        if not settings:
            continue
        values, errors = print_settings(path, section, sorted(settings))
        if errors:
            # Puppet names the file; the verdict is shared by every identical file.
            first = errors.splitlines()[0].replace(str(path), path.name)
            problems.append(f"[{section}]: {first}")
            continue
        for name, written in settings.items():
            printed = values.get(name)
            if printed is None:
                problems.append(f"[{section}] {name}: not a Puppet setting")
            elif not same(written, printed):
                problems.append(f"[{section}] {name}: the file says {written!r}, Puppet reads "
                                f"{printed!r}")
    return problems


# Loads the file as the agent does, then builds a CSR from it; prints what the CSR carries.
CSR_PROBE = r"""
require 'json'
require 'tmpdir'
require 'puppet'
require 'puppet/ssl'
Dir.mktmpdir do |dir|
  Puppet.initialize_settings(['--confdir', dir, '--vardir', dir, '--logdir', dir])
  Puppet::SSL::Oids.register_puppet_oids
  attrs = Puppet::SSL::CertificateRequestAttributes.new(ARGV[0])
  attrs.load or abort("#{ARGV[0]}: not found")
  csr = Puppet::SSL::CertificateRequest.new('bootstrap.check')
  csr.generate(OpenSSL::PKey::RSA.new(2048), csr_attributes: attrs.custom_attributes,
               extension_requests: attrs.extension_requests)
  pairs = ->(list) { list.map { |item| [item['oid'], item['value']] }.to_h }
  puts JSON.generate('custom_attributes' => pairs.(csr.custom_attributes),
                     'extension_requests' => pairs.(csr.request_extensions))
end
"""

# Puppet names a few OIDs by their short name once it has read them.
OID_NAMES = {"1.2.840.113549.1.9.7": "challengePassword"}


def read_csr_attributes(path: Path) -> tuple[dict[str, Any] | None, str]:
    """What a certificate request built by Puppet from this file carries, or Puppet's error."""
    proc = subprocess.run([resolve("ruby"), "-e", CSR_PROBE, str(path)], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode:
        lines = ANSI.sub("", proc.stderr).strip().splitlines()
        return None, (lines[0] if lines else f"ruby exited {proc.returncode}")
    return json.loads(proc.stdout), ""


@once_per_content
def check_csr_attributes(path: Path, record: FileRecord, folder: Path) -> list[str]:
    try:
        written = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}".splitlines()[0]]
    carried, error = read_csr_attributes(path)
    if carried is None:
        # A quoted challenge password makes validate withhold the line (bootstrap.validate.redaction).
        return [f"Puppet rejects it: {error}".replace(str(path), path.name)]
    problems = []
    for part in ("custom_attributes", "extension_requests"):
        for key, value in (written.get(part) or {}).items():
            name = OID_NAMES.get(str(key), str(key))
            got = carried[part].get(name)
            if got != str(value):
                shown = "(secret)" if part == "custom_attributes" else f"{value!r} -> {got!r}"
                problems.append(f"{part}.{key}: the certificate request does not carry the "
                                f"value as written {shown}")
    return problems


# role.yml names them on puppet.conf and csr_attributes.yaml (``check:``).
CHECKERS = [
    Checker("puppet config print", check_conf, tools=("puppet",), brought_by=BROUGHT_BY),
    Checker("puppet csr_attributes", check_csr_attributes, tools=("puppet", "ruby"),
            brought_by=BROUGHT_BY),
]
