"""``bootstrap validate`` for Beanstalk configuration files: the keys and value types AWS documents.

Beanstalk reads a configuration file only when the application is deployed, and a misspelt key
or a wrong type fails that deployment (or is ignored), so the schema below is the documented
form of each section, written from AWS's pages:

- packages, groups, users, sources, files, commands, services, container_commands:
  https://docs.aws.amazon.com/elasticbeanstalk/latest/dg/customize-containers-ec2.html
- option_settings (list form and the shorthand mapping form):
  https://docs.aws.amazon.com/elasticbeanstalk/latest/dg/ebextensions-optionsettings.html
- Resources (CloudFormation resources, checked as a mapping only):
  https://docs.aws.amazon.com/elasticbeanstalk/latest/dg/environment-resources.html
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker

STRINGS = {"type": "array", "items": {"type": "string"}}
ENV = {"type": "object", "additionalProperties": {"type": "string"}}
# "true"/"false" as strings appear in AWS's own examples beside YAML booleans.
FLAG = {"anyOf": [{"type": "boolean"}, {"enum": ["true", "false"]}]}
COMMAND = {"anyOf": [{"type": "string", "minLength": 1},
                     {"type": "array", "items": {"type": "string"}, "minItems": 1}]}


def _named(entry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": entry}


def _record(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


SCHEMA: dict[str, Any] = _record({
    # yum/python/rubygems: name -> [] (latest) or [version]; rpm: name -> URL or path.
    "packages": {"type": "object", "additionalProperties": False, "properties": {
        "yum": _named(STRINGS), "python": _named(STRINGS), "rubygems": _named(STRINGS),
        "rpm": _named({"type": "string"})}},
    "groups": _named(_record({"gid": {"type": "string"}})),
    "users": _named(_record({"groups": STRINGS, "uid": {"type": "string"},
                             "homeDir": {"type": "string"}})),
    "sources": _named({"type": "string"}),
    "files": _named({
        **_record({"content": {"type": "string"}, "source": {"type": "string"},
                   "encoding": {"enum": ["plain", "base64"]}, "group": {"type": "string"},
                   "owner": {"type": "string"},
                   "mode": {"type": "string", "pattern": "^[0-7]{6}$"},
                   "authentication": {"type": "string"}}),
        "oneOf": [{"required": ["content"]}, {"required": ["source"]}]}),
    "commands": _named(_record({"command": COMMAND, "env": ENV, "cwd": {"type": "string"},
                                "test": {"type": "string"}, "ignoreErrors": FLAG},
                               required=("command",))),
    "services": _record({"sysvinit": _named(_record({
        "enabled": FLAG, "ensureRunning": FLAG, "files": STRINGS, "sources": STRINGS,
        "packages": {"type": "object"}, "commands": STRINGS}))}),
    "container_commands": _named(_record({"command": COMMAND, "env": ENV,
                                          "cwd": {"type": "string"}, "leader_only": FLAG,
                                          "test": {"type": "string"}, "ignoreErrors": FLAG},
                                         required=("command",))),
    "option_settings": {"anyOf": [
        {"type": "array", "items": _record({
            "namespace": {"type": "string", "pattern": "^aws:"},
            "option_name": {"type": "string", "minLength": 1},
            "value": {"type": ["string", "number", "boolean"]},
            "resource_name": {"type": "string"}}, required=("namespace", "option_name"))},
        {"type": "object", "propertyNames": {"pattern": "^aws:"},
         "additionalProperties": _named({"type": ["string", "number", "boolean"]})}]},
    "Resources": {"type": "object"},
    "Outputs": {"type": "object"},
})


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(SCHEMA)
    return Draft7Validator(SCHEMA)


def check_ebextensions(path: Path, record: FileRecord, folder: Path) -> list[str]:
    try:
        document = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}".replace("\n", " ")]
    if document is None:
        return []
    problems = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "(top)"
        problems.append(f"{where}: {error.message}")
    return problems


CHECKERS = [
    Checker("ebextensions schema", check_ebextensions, python=("jsonschema",),
            brought_by={"jsonschema": "pip:validate"}),
]
