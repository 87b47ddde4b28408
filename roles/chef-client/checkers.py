"""The Chef client's own configuration loader reads back every client.rb and first-boot.json.

client.rb is Ruby, evaluated by ``ChefConfig::Config.from_file`` (Debian's ruby-chef-config, the
same code chef-client and cinc-client run) with Ohai's settings loaded (Debian's ohai) and
``config_strict_mode`` on, so a misspelled or unsupported setting is an error instead of being
stored silently. The checker then compares what the loader holds with the build: the keys, the
validator key, the Ohai hints folder and the first-boot JSON all belong to the client.rb's
folder, and the hint file the build writes is where Ohai will look.

first-boot.json is parsed by Ruby's JSON, as ``chef-client -j`` does, and must name a run list or
a policy name and group.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker
from bootstrap.validate.programs import resolve

BROUGHT_BY = {"ruby": "apt:ruby", "chef-config/config": "apt:ruby-chef-config",
              "ohai/config": "apt:ohai"}
# Prints, as JSON, the settings bootstrap writes, after a strict load of the files in ARGV.
READ_CLIENT_RB = r"""
require "json"
require "chef-config/config"
begin
  require "ohai/config"
rescue LoadError
  warn "Debian's ohai package (ohai/config) is not installed: ohai.* settings cannot be checked"
  exit 3
end
config = ChefConfig::Config
config.config_strict_mode = true
begin
  # client.rb, then any client.d files given after it, as chef-client loads them
  ARGV.each { |path| config.from_file(path) }
rescue Exception => e
  warn "#{e.class}: #{e.message}"
  exit 2
end
keys = %i[chef_server_url validation_client_name validation_key client_key node_name
          ssl_verify_mode file_cache_path file_backup_path]
values = keys.to_h { |k| [k, config[k].is_a?(Symbol) ? ":#{config[k]}" : config[k]] }
values[:ohai_hints_path] = config.ohai.hints_path
puts JSON.generate(values)
"""
READ_JSON = r"""
require "json"
begin
  puts JSON.generate(JSON.parse(File.read(ARGV[0])))
rescue JSON::ParserError => e
  warn "JSON::ParserError: #{e.message}"
  exit 2
end
"""


def _ruby(program: str, *paths: Path) -> tuple[Any, str]:
    proc = subprocess.run([resolve("ruby"), "-e", program, *map(str, paths)], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode:
        return None, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else \
            f"ruby exited {proc.returncode}"
    return json.loads(proc.stdout), ""


def read_client_rb(*paths: Path) -> tuple[dict[str, Any] | None, str]:
    """The settings ChefConfig holds after a strict load of ``paths``, or the loader's error."""
    return _ruby(READ_CLIENT_RB, *paths)


def read_json(path: Path) -> tuple[Any, str]:
    """``path`` parsed by Ruby's JSON (what ``chef-client -j`` uses), or the parser's error."""
    return _ruby(READ_JSON, path)


def check_client_rb(path: Path, record: FileRecord, folder: Path) -> list[str]:
    values, error = read_client_rb(path)
    if values is None:
        return [error]
    conf = PurePosixPath(record.dest).parent
    problems = []
    for key, name in (("validation_key", "validation.pem"), ("client_key", "client.pem")):
        if values[key] != str(conf / name):
            problems.append(f"{key} is {values[key]!r}, not {str(conf / name)!r} beside client.rb")
    if not str(values["chef_server_url"]).startswith(("https://", "http://")):
        problems.append(f"chef_server_url {values['chef_server_url']!r} is not an http(s) URL")
    hints = values["ohai_hints_path"]
    wanted = str(conf / "ohai" / "hints")
    if hints != [wanted]:
        problems.append(f"ohai.hints_path is {hints!r}, not [{wanted!r}]")
    elif not (folder / "files" / wanted.lstrip("/") / "ec2.json").is_file():
        problems.append(f"the build has no {wanted}/ec2.json for Ohai to find")
    return problems


def check_first_boot(path: Path, record: FileRecord, folder: Path) -> list[str]:
    doc, error = read_json(path)
    if doc is None:
        return [error]
    if not isinstance(doc, dict):
        return ["first-boot.json must hold a JSON object"]
    if "policy_name" in doc or "policy_group" in doc:
        if not (isinstance(doc.get("policy_name"), str) and isinstance(doc.get("policy_group"), str)):
            return ["policy_name and policy_group must both be strings"]
        if "run_list" in doc:
            return ["a policy node's first-boot.json has no run_list"]
    elif not (isinstance(doc.get("run_list"), list)
              and all(isinstance(i, str) for i in doc["run_list"])):
        return ["run_list must be a list of strings"]
    return []


def check_hint(path: Path, record: FileRecord, folder: Path) -> list[str]:
    doc, error = read_json(path)
    if doc is None:
        return [error]
    return [] if isinstance(doc, dict) else ["an Ohai hint holds a JSON object"]


# role.yml names them on client.rb, first-boot.json and the EC2 hint (``check:``).
CHECKERS = [
    Checker("chef-config", check_client_rb, tools=("ruby",),
            ruby=("chef-config/config", "ohai/config"), brought_by=BROUGHT_BY),
    Checker("chef first-boot json", check_first_boot, tools=("ruby",), brought_by=BROUGHT_BY),
    Checker("ohai hint", check_hint, tools=("ruby",), brought_by=BROUGHT_BY),
]
