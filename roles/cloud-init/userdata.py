"""User-data: one merged ``#cloud-config``, the roles' scripts, MIME, gzip, the size limit.

The cloud-init role's ``finalize`` builds each host's user-data from the artifacts of all its
roles (see :mod:`bootstrap.render.registry` for the ``userdata`` kinds):

* ``cloud-config`` fragments (YAML mappings) and the ``cloud_init`` settings are merged into
  **one** ``#cloud-config`` part, in role order, by these rules: lists append, mappings merge
  key by key (deeply), any other value from a later role replaces an earlier one. cloud-init's
  own merging of several parts is not relied on: its defaults replace lists unless every part
  says otherwise.
* ``file`` artifacts become ``write_files`` entries of that part, with their mode and owner
  (``defer`` when the owner is not root, since other users exist only after the users module
  and the packages ran).
* ``script`` artifacts become ``text/x-shellscript`` parts, in role order. cloud-init runs them
  in the final stage sorted by file name, so they are named ``NN-role-name`` and run in role
  order and before ``runcmd``. A script with an absolute dest is a ``write_files`` entry at that
  dest, and its part only ``exec``s it: the host then holds the script where its manifest says
  (and where ``verify`` looks), and the script is carried once.

One part is emitted as itself; several are wrapped in MIME multipart with a fixed boundary, so
the same inventory always gives the same bytes. EC2 limits the raw bytes (before base64) to
16,384: ``gzip: auto`` compresses only when over, ``always`` always, ``never`` never; when even
the compressed form is over, the error names the host and the size and suggests S3.

Three presets are written beside the host's files, each encoded once:
``user-data`` (raw bytes, for boto3 ``run_instances``, which base64-encodes itself),
``user-data.b64`` (for launch templates, which want base64) and ``user-data.txt`` (never
compressed: for clouds that take plain text, and for reading and diffs), plus
``user-data.report.json`` with the sizes. A secret in any part makes all three secret.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.hosts.secrets import SecretRef
from bootstrap.render.renderer import Artifact
from bootstrap.roles.cloud_init import hostname as by_instance_id
from bootstrap.roles.cloud_init import pull
from bootstrap.roles.cloud_init.settings import SUDO_ALL, CloudInit, default_names

ROLE = "cloud-init"
HEADER = "#cloud-config\n"
CLOUD_CONFIG = "text/cloud-config"
SHELLSCRIPT = "text/x-shellscript"
GZIP_MAGIC = b"\x1f\x8b"
RAW, B64, TEXT, REPORT = "user-data", "user-data.b64", "user-data.txt", "user-data.report.json"
# SMTP's line limit: a longer line, or a byte outside ASCII, is not "7bit"; such a part goes in
# base64, because cloud-init's MIME parser would mangle 8-bit text.
MAX_7BIT_LINE = 998


@dataclass(frozen=True, slots=True)
class Part:
    """One part of the user-data, with the copy shown in diffs (secrets replaced)."""

    filename: str
    content_type: str
    content: bytes
    redacted: bytes


@dataclass(frozen=True, slots=True)
class UserData:
    """The assembled user-data of one host."""

    raw: bytes  # what the instance receives (maybe gzip)
    text: bytes  # the same, never compressed
    redacted_text: bytes
    gzipped: bool
    parts: tuple[Part, ...]
    secret: bool

    @property
    def redacted_raw(self) -> bytes:
        return compress(self.redacted_text) if self.gzipped else self.redacted_text


# -- merging ------------------------------------------------------------------------------------


def merge(base: Any, over: Any) -> Any:
    """Lists append, mappings merge deeply, any other value: ``over`` wins."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(out[key], value) if key in out else value
        return out
    if isinstance(base, list) and isinstance(over, list):
        return [*base, *over]
    return over


# -- the cloud_init settings as cloud-config ----------------------------------------------------


def launch_template(target: Target) -> str | None:
    """The launch template the host stands for (``aws.launch_template``), None for an instance."""
    return getattr(target.settings.get("aws"), "launch_template", None)


def hostname_pattern(target: Target, settings: CloudInit) -> str | None:
    """The instance-id pattern the host is named by at boot, or None for a fixed name.

    A launch template's user-data is shared by every instance started from it: a fixed name
    there would make them all claim one identity, so it is an error naming the key.
    """
    template = launch_template(target)
    fixed = [key for key in ("hostname", "fqdn") if getattr(settings, key) is not None]
    if template and fixed:
        raise BootstrapError(
            f"every instance of launch template {template} would be named "
            f"{getattr(settings, fixed[0])}: drop cloud_init.{fixed[0]} and set "
            f"cloud_init.hostname_pattern (like app-{{instance_id}}.example.internal)",
            origin=target.origin("cloud_init", fixed[0]), host=target.name,
            key=f"cloud_init.{fixed[0]}")
    if settings.hostname_pattern is not None and fixed:
        raise BootstrapError(
            f"set either cloud_init.hostname_pattern or cloud_init.{fixed[0]}, not both",
            origin=target.origin("cloud_init", "hostname_pattern"), host=target.name,
            key="cloud_init.hostname_pattern")
    if settings.hostname_pattern is not None:
        return settings.hostname_pattern
    return by_instance_id.DEFAULT_PATTERN if template else None


def own_config(target: Target, settings: CloudInit) -> dict[str, Any]:
    """The cloud-config keys of the ``cloud_init`` namespace (secrets still references)."""
    config: dict[str, Any] = dict(settings.cloud_config)
    pattern = hostname_pattern(target, settings)
    if pattern is not None:
        named = by_instance_id.config(pattern)
        config["preserve_hostname"] = named["preserve_hostname"]
        # First of all boot commands: the roles' and the operator's see the final name.
        given = config.get("bootcmd")
        given = given if isinstance(given, list) else [] if given is None else [given]
        config["bootcmd"] = [*named["bootcmd"], *given]
        return _rest(config, settings)
    hostname, fqdn = settings.hostname, settings.fqdn
    if hostname is None:
        try:
            hostname, from_name = default_names(target.name)
        except ValueError as exc:
            raise BootstrapError(f"the inventory name is not usable as the instance's host name: "
                                 f"{exc}; set cloud_init.hostname", origin=target.origin(),
                                 host=target.name, key="cloud_init.hostname") from None
        fqdn = fqdn or from_name
    config = merge(config, {"hostname": hostname})
    if fqdn:
        config["fqdn"] = fqdn
        config["prefer_fqdn_over_hostname"] = False
    return _rest(config, settings)


def _rest(config: dict[str, Any], settings: CloudInit) -> dict[str, Any]:
    """The keys after the host's name: users, packages, files, commands, phone home."""
    if settings.users:
        config["users"] = ["default", *(_user(u) for u in settings.users)]
    if settings.packages:
        config["packages"] = [list(p) if isinstance(p, tuple) else p for p in settings.packages]
    if settings.raid1:
        config = merge(config, _raid1(settings.raid1))
    if settings.write_files:
        owners = {u.name for u in settings.users}
        config = merge(config, {"write_files": [_file(f, owners) for f in settings.write_files]})
    if settings.runcmd:
        config = merge(config, {"runcmd": list(settings.runcmd)})
    if settings.phone_home:
        config["phone_home"] = {"url": settings.phone_home.url, "post": "all",
                                "tries": settings.phone_home.tries}
    return config


def _user(user: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": user.name, "lock_passwd": True}
    if user.gecos is not None:
        out["gecos"] = user.gecos
    if user.groups:
        out["groups"] = list(user.groups)
    if user.sudo:
        out["sudo"] = SUDO_ALL if user.sudo is True else user.sudo
    if user.shell:
        out["shell"] = user.shell
    if user.ssh_authorized_keys:
        out["ssh_authorized_keys"] = list(user.ssh_authorized_keys)
    return out


def _file(spec: Any, new_users: set[str]) -> dict[str, Any]:
    mode = int(spec.mode.replace("o", ""), 8)
    entry: dict[str, Any] = {"path": spec.path, "content": spec.content,
                             "permissions": f"0o{mode:03o}", "owner": spec.owner}
    if spec.append:
        entry["append"] = True
    user, _, group = spec.owner.partition(":")
    if user in new_users or group in new_users:
        entry["defer"] = True  # the owner exists only after the users module ran
    return entry


def _raid1(raid: Any) -> dict[str, Any]:
    """The classic two-volume mirror: mdadm in bootcmd (once per instance), then mkfs, fstab.

    bootcmd runs before disk_setup and mounts; cloud-init-per keeps it to the first boot of an
    instance. Volumes that already carry an array are assembled, never re-created, so a mirror
    moved to a new instance keeps its data. The array is recorded in mdadm.conf and the
    initramfs, so every later boot assembles it under the same md name; it is mounted by
    filesystem label all the same.
    """
    md = f"/dev/{raid.name}"
    a, b = (_sh(d) for d in raid.devices)
    return {
        "bootcmd": [["cloud-init-per", "instance", f"bootstrap-raid1-{raid.name}", "sh", "-c",
                     RAID1_SCRIPT.format(md=md, a=a, b=b)]],
        "fs_setup": [{"label": raid.label, "filesystem": raid.fstype, "device": md,
                      "partition": "auto"}],
        "mounts": [[f"LABEL={raid.label}", raid.mount, raid.fstype, "defaults,nofail", "0", "2"]],
    }


# Volumes attached at launch may get their device nodes (or the links naming them) a moment
# after bootcmd starts: wait for both, then fail loudly rather than build a one-disk array.
# The ARRAY line names the array by UUID, so it assembles as {md} on every boot; the
# initramfs holds its own copy of mdadm.conf, hence the rebuild (Debian and RHEL alike).
RAID1_SCRIPT = """set -eu
[ -e {md} ] && exit 0
n=0
while [ ! -b {a} ] || [ ! -b {b} ]; do
  n=$((n + 1))
  if [ "$n" -gt 120 ]; then echo "raid1: {a} or {b} is not a block device" >&2; exit 1; fi
  sleep 1
done
if mdadm --examine {a} >/dev/null 2>&1; then
  mdadm --assemble {md} {a} {b}
else
  mdadm --create {md} --level=1 --raid-devices=2 --metadata=1.2 --run {a} {b}
fi
conf=/etc/mdadm/mdadm.conf
[ -d /etc/mdadm ] || conf=/etc/mdadm.conf
if ! grep -q "^ARRAY {md} " "$conf" 2>/dev/null; then
  mdadm --detail --brief {md} >> "$conf"
  if command -v update-initramfs >/dev/null; then update-initramfs -u
  elif command -v dracut >/dev/null; then dracut -f
  fi
fi
"""


def _sh(word: str) -> str:
    return word if re.fullmatch(r"[A-Za-z0-9/_.:-]+", word) else "'" + word.replace("'", "'\\''") + "'"


# -- secrets ------------------------------------------------------------------------------------


def reveal(value: Any, basedir: Path) -> tuple[Any, Any, bool]:
    """(value with secrets, value with placeholders, whether any secret was inside)."""
    if isinstance(value, SecretRef):
        return value.reveal(basedir), value.label, True
    if isinstance(value, dict):
        items = {k: reveal(v, basedir) for k, v in value.items()}
        return ({k: r for k, (r, _, _) in items.items()}, {k: p for k, (_, p, _) in items.items()},
                any(s for _, _, s in items.values()))
    if isinstance(value, list | tuple):
        triples = [reveal(v, basedir) for v in value]
        return [r for r, _, _ in triples], [p for _, p, _ in triples], any(s for *_, s in triples)
    return value, value, False


# -- the other roles' contributions -------------------------------------------------------------


def _fragment(art: Artifact, content: bytes, host: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(content.decode())
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        # The parser quotes the character it stumbled on, which may be one of a secret's.
        detail = ("not shown: the fragment holds a secret; print secrets with the yaml filter"
                  if art.secret else _first_line(exc))
        raise BootstrapError(f"cloud-config fragment {art.dest} of role {art.role} is not YAML: "
                             f"{detail}", host=host) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BootstrapError(f"cloud-config fragment {art.dest} of role {art.role} must be a "
                             f"mapping of cloud-config keys, found {type(data).__name__}", host=host)
    return data


def _embedded_file(art: Artifact, content: bytes, host: str) -> dict[str, Any]:
    if not art.on_host:
        raise BootstrapError(f"artifact {art.dest} of role {art.role} has userdata: file but no "
                             f"absolute dest to write it to", host=host)
    # Rendered templates are UTF-8 text, which YAML holds exactly (escaping what it must).
    entry: dict[str, Any] = {"path": art.dest, "content": content.decode(),
                             "permissions": f"0o{art.mode:03o}", "owner": art.owner}
    if art.owner.split(":")[0] != "root" or art.owner.partition(":")[2] not in ("", "root"):
        entry["defer"] = True
    return entry


def _not_written_twice(art: Artifact, settings: CloudInit, target: Target) -> None:
    """A role's file and a cloud_init.write_files entry at one path: cloud-init would write both,
    and whichever comes last would silently replace the other."""
    for index, spec in enumerate(settings.write_files):
        if spec.path == art.dest:
            raise BootstrapError(f"{spec.path} is a file of role {art.role}; writing it here too "
                                 f"would replace it (or be replaced): drop this entry or change "
                                 f"the role's template",
                                 origin=target.origin("cloud_init", "write_files", index, "path"),
                                 host=target.name, key=f"cloud_init.write_files.{index}.path")


def _script(index: int, art: Artifact, host: str) -> Part:
    if not art.content.startswith(b"#!"):
        raise BootstrapError(f"script {art.dest} of role {art.role} must start with '#!' to run "
                             f"as a user-data script", host=host)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{index:02d}-{art.role}-{Path(art.dest).name}")
    if art.on_host:
        # write_files (init stage, or write_files_deferred before the scripts) installed it.
        stub = f"#!/bin/sh\nexec {shlex.quote(art.dest)}\n".encode()
        return Part(name, SHELLSCRIPT, stub, stub)
    redacted = art.redacted if art.secret and art.redacted is not None else art.content
    return Part(name, SHELLSCRIPT, art.content, redacted)


# -- assembly -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so scripts and files stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style when a block cannot hold the value exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(config: dict[str, Any]) -> bytes:
    """A ``#cloud-config`` document in ASCII (other characters escaped), keys in merge order."""
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=False,
                     default_flow_style=False, width=100)
    return (HEADER + text).encode()


def mime(parts: Iterable[Part], boundary: str, *, redacted: bool = False) -> bytes:
    """MIME multipart with a fixed boundary (cloud-init's ``make-mime`` picks a random one)."""
    out = [f'Content-Type: multipart/mixed; boundary="{boundary}"\nMIME-Version: 1.0\n\n']
    for part in parts:
        body = part.redacted if redacted else part.content
        seven_bit = body.isascii() and all(len(line) <= MAX_7BIT_LINE for line in body.split(b"\n"))
        out.append(f"--{boundary}\n"
                   f'Content-Type: {part.content_type}; charset="utf-8"\n'
                   f"MIME-Version: 1.0\n"
                   f"Content-Transfer-Encoding: {'7bit' if seven_bit else 'base64'}\n"
                   f'Content-Disposition: attachment; filename="{part.filename}"\n\n')
        # The line break before a delimiter belongs to the delimiter, so one is added.
        out.append((body.decode() if seven_bit else base64.encodebytes(body).decode()) + "\n")
    out.append(f"--{boundary}--\n")
    return "".join(out).encode()


def compress(data: bytes) -> bytes:
    """gzip with a zero timestamp: the same input gives the same bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def assemble(parts: list[Part], settings: CloudInit,
             target: Target) -> tuple[bytes, bytes, bytes, bool]:
    """(raw, text, redacted text, gzipped) within the size limit, or an error saying what to do."""
    if len(parts) == 1:
        text, redacted = parts[0].content, parts[0].redacted
    else:
        delimiter = f"--{settings.boundary}".encode()
        for part in parts:
            if delimiter in part.content or delimiter in part.redacted:
                raise BootstrapError(f"part {part.filename} contains the MIME boundary "
                                     f"{settings.boundary!r}; set another boundary",
                                     origin=target.origin("cloud_init", "boundary"),
                                     host=target.name, key="cloud_init.boundary")
        text, redacted = mime(parts, settings.boundary), mime(parts, settings.boundary,
                                                              redacted=True)
    limit = settings.size_limit
    want_gzip = settings.gzip == "always" or (settings.gzip == "auto" and len(text) > limit)
    raw = compress(text) if want_gzip else text
    if len(raw) > limit:
        if want_gzip:
            detail = f"{len(raw)} bytes gzipped ({len(text)} bytes uncompressed)"
            advice = ""
        else:
            detail = f"{len(text)} bytes"
            advice = (f"cloud_init.gzip is 'never' (gzip would make it {len(compress(text))} "
                      f"bytes); ")
        raise BootstrapError(f"user-data is {detail}, over the limit of {limit} bytes "
                             f"(EC2 counts the raw bytes before base64): {advice}move large files "
                             f"and scripts to S3 and fetch them at boot (the instance role can "
                             f"read them): set cloud_init.delivery: s3 with aws.publish, and "
                             f"the user-data holds only a small stub that pulls them",
                             origin=target.origin("cloud_init", "gzip"),
                             host=target.name, key="cloud_init.gzip")
    return raw, text, redacted, want_gzip


def build(target: Target, settings: CloudInit, artifacts: list[Artifact]) -> UserData:
    """Merge the host's contributions in role order and assemble its user-data."""
    parts, secret = _parts(target, settings, artifacts, pulled=settings.delivery == "s3")
    raw, text, redacted_text, gzipped = assemble(parts, settings, target)
    return UserData(raw, text, redacted_text, gzipped, tuple(parts), secret)


def _parts(target: Target, settings: CloudInit, artifacts: list[Artifact], *,
           pulled: bool) -> tuple[list[Part], bool]:
    """(parts, whether any holds a secret); ``pulled``: the roles' files and scripts come from
    S3, and the one script part is the pull stub."""
    host = target.name
    rank = {name: i for i, name in enumerate(target.roles)}
    own_rank = rank.get(ROLE, -1)
    contributions: list[tuple[int, Any, Any, bool]] = []
    real, shown, secret = reveal(own_config(target, settings), target.basedir)
    contributions.append((own_rank, real, shown, secret))
    scripts: list[Part] = []
    for art in artifacts:
        if art.userdata is None:
            continue
        hidden = art.redacted if art.secret and art.redacted is not None else art.content
        if art.userdata == "cloud-config":
            pair = (_fragment(art, art.content, host), _fragment(art, hidden, host))
        elif pulled:  # the pull installs files and scripts at their dest
            _not_written_twice(art, settings, target)
            continue
        else:
            if art.userdata == "script":
                scripts.append(_script(len(scripts) + 1, art, host))
                if not art.on_host:
                    secret = secret or art.secret
                    continue
            # A script with a place on the host is installed there, as push would install it,
            # so the host holds after its first boot what its manifest lists.
            pair = ({"write_files": [_embedded_file(art, art.content, host)]},
                    {"write_files": [_embedded_file(art, hidden, host)]})
            _not_written_twice(art, settings, target)
        contributions.append((rank.get(art.role, own_rank), *pair, art.secret))
    # A stable sort keeps each role's artifacts in their own order.
    contributions.sort(key=lambda c: c[0])
    config: dict[str, Any] = {}
    redacted: dict[str, Any] = {}
    for _, real, shown, was_secret in contributions:
        config, redacted = merge(config, real), merge(redacted, shown)
        secret = secret or was_secret
    if pulled:
        code = pull.stub(target, artifacts)
        scripts = [Part(f"01-{ROLE}-bootstrap-pull", SHELLSCRIPT, code, code)]
    parts = [Part("cloud-config.yaml", CLOUD_CONFIG, dump(config), dump(redacted)), *scripts]
    return parts, secret


def inline_size(target: Target, settings: CloudInit, artifacts: list[Artifact]) -> int:
    """The raw size the host's user-data would have with inline delivery (no limit applied)."""
    parts, _ = _parts(target, settings, artifacts, pulled=False)
    text = parts[0].content if len(parts) == 1 else mime(parts, settings.boundary)
    over = settings.gzip == "always" or (settings.gzip == "auto" and len(text) > settings.size_limit)
    return len(compress(text)) if over else len(text)


def report(target: Target, settings: CloudInit, data: UserData,
           inline: int | None = None) -> dict[str, Any]:
    """The sizes; ``inline``: with delivery s3, the size inline delivery would have had."""
    sizes = {
        "delivery": settings.delivery,
        "host": target.name,
        "size": len(data.raw),
        "limit": settings.size_limit,
        "headroom": settings.size_limit - len(data.raw),
        "gzip": data.gzipped,
        "gzip_setting": settings.gzip,
        "uncompressed_size": len(data.text),
        "base64_size": len(base64.b64encode(data.raw)),
        "format": "mime" if len(data.parts) > 1 else data.parts[0].content_type,
        "parts": [{"filename": p.filename, "content_type": p.content_type,
                   "size": len(p.content)} for p in data.parts],
    }
    if inline is not None:
        sizes["inline_size"] = inline
    return sizes


def finalize(target: Target, settings: CloudInit, artifacts: list[Artifact]) -> list[Artifact]:
    """The cloud-init role's hook: user-data outputs added, cloud-config fragments dropped."""
    if settings.delivery == "s3":
        artifacts = [*artifacts, pull.first_boot_list(target, artifacts)]
    data = build(target, settings, artifacts)
    mode = 0o600 if data.secret else 0o644

    def output(dest: str, content: bytes, redacted: bytes, *check: str) -> Artifact:
        return Artifact(dest, content, mode, "root:root", ROLE, data.secret,
                        redacted if data.secret else None, check=check)

    pulled = settings.delivery == "s3"
    sizes = report(target, settings, data,
                   inline_size(target, settings, artifacts) if pulled else None)
    kept = [a for a in artifacts if a.userdata != "cloud-config"]
    if pulled:
        # The same pull, for bootstrap push --via ssm to send to running instances.
        code = next(p.content for p in data.parts if p.content_type == SHELLSCRIPT)
        kept.append(Artifact(pull.COMMAND_OUTPUT, code, 0o644, "root:root", ROLE))
    return [
        *kept,
        output(RAW, data.raw, data.redacted_raw, "cloud-init schema"),
        output(B64, base64.b64encode(data.raw), base64.b64encode(data.redacted_raw),
               "user-data base64"),
        output(TEXT, data.text, data.redacted_text),
        # The sizes of user-data with a secret tell the secret's length, and the gzipped size
        # how it compresses with the rest: trying each value of a short secret would find it.
        output(REPORT, _json(sizes), _json(_sizes_hidden(sizes))) if data.secret
        else Artifact(REPORT, _json(sizes), 0o644, "root:root", ROLE),
    ]


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


SIZE_KEYS = ("size", "headroom", "gzip", "uncompressed_size", "base64_size", "inline_size")


def _sizes_hidden(value: Any) -> Any:
    """The report with every figure that depends on a secret's value replaced."""
    if isinstance(value, dict):
        return {k: "<depends on a secret>" if k in SIZE_KEYS else _sizes_hidden(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_sizes_hidden(v) for v in value]
    return value


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
