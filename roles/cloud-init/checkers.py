"""cloud-init user-data checked against cloud-init's own JSON schema.

``cloud-init schema`` (22.4 in Debian 12) reads neither MIME nor gzip, so this checker opens the
user-data the way cloud-init does (gzip by its magic bytes, MIME multipart, each part by its
declared type or its first line) and validates every cloud-config part, with the ``jsonschema``
package, against ``schema-cloud-config-v1.json`` as shipped by the distribution's cloud-init
package. Each problem names the part, the YAML line and the key path (``users.1.sudo``).

Beyond the schema it reports what cloud-init would silently ignore or mangle: a top-level key no
module reads (a typo), a part type no handler takes, user-data that is base64 text (encoded
twice), a ``user-data.b64`` that does not decode to ``user-data``, and a size over the limit.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import functools
import glob
import gzip
import json
from pathlib import Path
from typing import Any

from bootstrap.build.manifest import FileRecord
from bootstrap.validate.checker import Checker

SCHEMA_GLOBS = (
    "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json",
    "/usr/lib/python3*/site-packages/cloudinit/config/schemas/schema-cloud-config-v1.json",
    "/usr/local/lib/python3*/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json",
)
# cloud-init's handlers/__init__.py INCLUSION_TYPES_MAP: first line → content type.
STARTS = {
    "#include": "text/x-include-url",
    "#include-once": "text/x-include-once-url",
    "#!": "text/x-shellscript",
    "#cloud-config": "text/cloud-config",
    "#part-handler": "text/part-handler",
    "#cloud-boothook": "text/cloud-boothook",
    "#cloud-config-archive": "text/cloud-config-archive",
    "#cloud-config-jsonp": "text/cloud-config-jsonp",
    "## template: jinja": "text/jinja2",
}
MIME_ONLY = {"text/x-shellscript-per-boot", "text/x-shellscript-per-instance",
             "text/x-shellscript-per-once"}
KNOWN_TYPES = set(STARTS.values()) | MIME_ONLY
# Declared types that cloud-init sniffs again from the content (cloud-init#3764).
SNIFFED = {"text/plain", "text/x-not-multipart", "text/x-shellscript"}
EC2_LIMIT = 16384


def schema_path() -> Path | None:
    for pattern in SCHEMA_GLOBS:
        for found in sorted(glob.glob(pattern)):
            return Path(found)
    return None


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft4Validator, FormatChecker

    path = schema_path()
    if path is None:
        raise FileNotFoundError("schema-cloud-config-v1.json of the cloud-init package not found")
    schema = json.loads(path.read_text())
    return Draft4Validator(schema, format_checker=FormatChecker())


@functools.cache
def known_keys() -> frozenset[str]:
    """Every top-level key some cloud-init module reads, according to the schema."""
    schema = _validator().schema
    keys: set[str] = set()
    for ref in schema.get("allOf", []):
        definition = schema["$defs"][ref["$ref"].rsplit("/", 1)[-1]]
        keys.update(definition.get("properties", {}))
    return frozenset(keys)


def _sniff(text: bytes) -> str | None:
    start = text.lstrip()[:64].decode("utf-8", "replace").lower()
    for prefix in sorted(STARTS, key=len, reverse=True):
        if start.startswith(prefix):
            return STARTS[prefix]
    return None


def cloud_config_problems(text: str, where: str) -> list[str]:
    """Schema problems of one cloud-config document, each as 'WHERE, line N: key.path: message'."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{where}: not valid YAML: {' '.join(str(exc).split())}"]
    if data is None:
        return []
    if not isinstance(data, dict):
        return [f"{where}: a cloud-config must be a mapping, found {type(data).__name__}"]
    problems: list[str] = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        while error.context:  # oneOf/anyOf: the deepest error of an alternative says most
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path = list(error.absolute_path)
        dotted = ".".join(str(p) for p in path) or "(top)"
        problem = f"{where}, line {_line(node, path)}: {dotted}: {error.message}"
        if problem not in problems:  # several modules read the same key (hostname)
            problems.append(problem)
    for key in data:
        if key not in known_keys():
            problems.append(f"{where}, line {_line(node, [key])}: {key}: not a cloud-config key "
                            f"any cloud-init module reads (a typo?)")
    return problems


def _line(node: Any, path: list[Any]) -> int:
    """1-based line of the key (or list item) at ``path``, or of its nearest existing ancestor."""
    import yaml

    mark = node.start_mark
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                break
            mark, node = pair[0].start_mark, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1


def user_data_problems(data: bytes, where: str = "user-data") -> list[str]:
    """Open user-data as cloud-init does and check every cloud-config part in it."""
    if data[:2] == b"\x1f\x8b":
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            return [f"{where}: broken gzip: {exc}"]
        return user_data_problems(inner, f"{where} (inside gzip)")
    head = data.lstrip()[:200].lower()
    if head.startswith((b"content-type:", b"mime-version:")):
        return _mime_problems(data, where)
    kind = _sniff(data)
    if kind == "text/cloud-config":
        return cloud_config_problems(data.decode("utf-8", "surrogateescape"), where)
    if kind is not None:
        return []
    if _base64_of_user_data(data):
        return [f"{where}: is base64 text of user-data: encoded twice (cloud-init would log "
                f"'Unhandled non-multipart userdata'); give the instance the raw bytes"]
    return [f"{where}: unrecognized user-data: the first line must be one of "
            f"{', '.join(sorted(STARTS))}, or MIME, or gzip"]


def _mime_problems(data: bytes, where: str) -> list[str]:
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    if not message.is_multipart():
        return [f"{where}: MIME headers but not multipart"]
    problems = []
    leaves = [p for p in message.walk() if not p.is_multipart()]
    for index, part in enumerate(leaves, start=1):
        name = part.get_filename() or f"part {index}"
        label = f"{where}: part {name} ({index} of {len(leaves)})"
        payload = part.get_payload(decode=True) or b""
        ctype = part.get_content_type()
        if ctype in SNIFFED:
            ctype = _sniff(payload) or ctype
        if ctype == "text/cloud-config":
            charset = part.get_content_charset() or "utf-8"
            problems += cloud_config_problems(payload.decode(charset, "surrogateescape"), label)
        elif ctype not in KNOWN_TYPES:
            problems.append(f"{label}: content type {ctype} has no cloud-init handler")
    return problems


def _base64_of_user_data(data: bytes) -> bool:
    try:
        decoded = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return decoded[:2] == b"\x1f\x8b" or _sniff(decoded) is not None or decoded.lstrip()[
        :13].lower() == b"content-type:"


def _check_user_data(path: Path, record: FileRecord, folder: Path) -> list[str]:
    data = path.read_bytes()
    problems = user_data_problems(data)
    report = folder / "user-data.report.json"
    limit = json.loads(report.read_text()).get("limit", EC2_LIMIT) if report.is_file() else EC2_LIMIT
    if len(data) > limit:
        problems.append(f"user-data: {len(data)} bytes, over the limit of {limit}")
    return problems


def _check_b64(path: Path, record: FileRecord, folder: Path) -> list[str]:
    raw = folder / "user-data"
    try:
        decoded = base64.b64decode(path.read_bytes(), validate=True)
    except (binascii.Error, ValueError) as exc:
        return [f"user-data.b64: not base64: {exc}"]
    if not raw.is_file() or decoded != raw.read_bytes():
        return ["user-data.b64: does not decode to the bytes of user-data"]
    return []


# The role's finalize hook names them on the user-data outputs it writes.
CHECKERS = [
    Checker("cloud-init schema", _check_user_data, tools=("cloud-init",), python=("jsonschema",),
            brought_by={"cloud-init": "apt:cloud-init", "jsonschema": "pip:validate"}),
    Checker("user-data base64", _check_b64),
]
