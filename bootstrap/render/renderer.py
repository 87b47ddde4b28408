"""Rendering: a typed host and its roles in, artifacts out. Pure: no network, no build directory.

Decisions are made in Python (a role's ``context`` function on its validated settings) and handed
to templates as plain values; templates only print, through the escaping filters of
:mod:`bootstrap.render.filters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from bootstrap.errors import BootstrapError, Origin
from bootstrap.hosts.loader import Target
from bootstrap.hosts.secrets import Revealed, placeholders, revealing
from bootstrap.paths import search_path
from bootstrap.render.filters import FILTERS, UnsafeValue
from bootstrap.render.registry import ArtifactSpec, Registry, Role

TEMPLATE_SUFFIX = ".j2"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One rendered file. ``dest`` is absolute for a file on the host, relative for a build output
    kept beside the host's files (``user-data``)."""

    dest: str
    content: bytes
    mode: int
    owner: str
    role: str
    secret: bool = False
    redacted: bytes | None = None  # rendered again with placeholders for secrets, for diffs
    userdata: str | None = None  # "script" or "file": the cloud-init role embeds it in user-data
    check: tuple[str, ...] = ()  # the checkers of validate that consume it (role.yml's check)

    @property
    def on_host(self) -> bool:
        return self.dest.startswith("/")


class Renderer:
    """Holds the Jinja environment and the role registry for one inventory's folder."""

    def __init__(self, registry: Registry, inventory_dir: Path,
                 bytecode_cache: jinja2.BytecodeCache | None = None) -> None:
        """``bytecode_cache``: where compiled templates are kept between runs."""
        self.registry = registry
        self.template_dirs = search_path("templates", inventory_dir)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(p) for p in self.template_dirs]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
            auto_reload=False,
            bytecode_cache=bytecode_cache,
        )
        self.env.filters.update(FILTERS)
        # Loaded templates by name: the environment never reloads one (auto_reload off), so its
        # own lookup, paid for every file of every host, is only done once per template.
        self.templates: dict[str, jinja2.Template] = {}
        # The kinds of the secrets revealed into outputs (file, env, vault, ...): an output that
        # holds a secret read from the environment or AWS cannot be known unchanged from files.
        self.secret_kinds: set[str] = set()
        # Warnings from role contexts (a context returns them under "warnings"); the caller
        # decides where they go, so rendering stays free of output.
        self.warnings: list[str] = []

    def take_warnings(self) -> list[str]:
        """The role warnings since the last call, for the caller to show."""
        taken, self.warnings = self.warnings, []
        return taken

    # -- rendering --------------------------------------------------------------------------

    def render(self, target: Target) -> list[Artifact]:
        """Every artifact of every role of the host, in role order."""
        roles = [self.registry.get(name) for name in target.roles]
        artifacts: list[Artifact] = []
        for role in roles:
            artifacts.extend(self.render_role(target, role))
        for role in roles:
            if role.finalize is not None:
                settings = target.settings.get(role.namespace or "")
                artifacts = self._guard_call(
                    lambda r=role, s=settings, a=artifacts: r.finalize(target, s, a), target)
        return artifacts

    def render_fleet(self, targets: list[Target]) -> list[Artifact]:
        """Fleet-wide artifacts (one per distinct need of the selected hosts), e.g. IAM policies."""
        seen: set[str] = set()
        out: list[Artifact] = []
        for target in targets:
            for name in target.roles:
                role = self.registry.get(name)
                if role.fleet is not None and name not in seen:
                    seen.add(name)
                    out.extend(role.fleet([t for t in targets if name in t.roles]))
        return out

    def render_role(self, target: Target, role: Role) -> list[Artifact]:
        settings = target.settings.get(role.namespace or "")
        context: dict[str, Any] = {"host": target, "vars": target.vars, "settings": settings}
        if role.context is not None:
            context.update(role.context(target, settings))
            self.warnings.extend(context.pop("warnings", ()))
        out = []
        for spec in role.artifacts:
            if spec.when and not context.get(spec.when):
                continue
            # foreach: one file per item of a context list, the item named ``item``
            items = context[spec.foreach] if spec.foreach else [None]
            for item in items:
                scope = {**context, "item": item} if spec.foreach else context
                out.append(self._artifact(spec, scope, target, role))
        return out

    def _artifact(self, spec: ArtifactSpec, context: dict[str, Any], target: Target,
                  role: Role) -> Artifact:
        dest = self._string(spec.dest, context, target) if "{" in spec.dest else spec.dest
        _check_dest(dest, spec, target, role)
        content, revealed = self._template(spec.template, context, target)
        secret = bool(revealed)
        # The copy for diffs is a second render where each secret prints its placeholder, not
        # the output with the secret's text searched and replaced: a one-character secret, or
        # one equal to another value of the file, would show where it is and so what it is.
        redacted = self._placeholder_render(spec.template, context, target) if secret else None
        return Artifact(dest, content.encode(), 0o600 if secret else spec.mode, spec.owner,
                        role.name, secret, redacted, spec.userdata, spec.check)

    def _placeholder_render(self, name: str, context: dict[str, Any], target: Target) -> bytes:
        template = self.env.get_template(name)  # loaded and checked by the first render
        with placeholders():
            return self._guard(template.render, context, target).encode()

    def _template(self, name: str, context: dict[str, Any],
                  target: Target) -> tuple[str, Revealed]:
        template = self.templates.get(name)
        if template is None:
            template = self.templates[name] = self._load(name, target)
        with revealing(target.basedir) as revealed:
            text = self._guard(template.render, context, target, revealed)
        if revealed.labels:
            self.secret_kinds.update(label.split(":")[1] for label in revealed.labels)
        return text, revealed

    def _load(self, name: str, target: Target) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise BootstrapError(f"template {name!r} not found in "
                                 f"{', '.join(str(p) for p in self.template_dirs)}",
                                 host=target.name) from None
        except jinja2.TemplateSyntaxError as exc:
            raise BootstrapError(f"template syntax: {exc.message}",
                                 origin=Origin(exc.filename or name, exc.lineno)) from None

    def _string(self, source: str, context: dict[str, Any], target: Target) -> str:
        return self._guard(lambda c: self.env.from_string(source).render(c), context, target)

    def _guard_call(self, call: Callable[[], list[Artifact]], target: Target) -> list[Artifact]:
        try:
            return call()
        except BootstrapError as exc:
            raise exc.with_context(host=target.name) from None

    def _guard(self, render: Callable[[dict[str, Any]], str], context: dict[str, Any],
               target: Target, revealed: Revealed | None = None) -> str:
        """``render(context)``, its failure one error naming the template's file:line."""
        try:
            return render(context)
        except BootstrapError as exc:
            raise exc.with_context(host=target.name) from None
        except jinja2.TemplateSyntaxError as exc:  # from a template pulled in by extends/include
            raise BootstrapError(f"template syntax: {exc.message}",
                                 origin=Origin(exc.filename or exc.name or "template", exc.lineno),
                                 host=target.name) from None
        except jinja2.UndefinedError as exc:
            # Jinja quotes the missing name, which a template may have built from a secret.
            detail = "(name not shown: this file holds a secret)" if revealed else exc.message
            raise BootstrapError(f"undefined template variable: {detail}",
                                 origin=_template_origin(exc.__traceback__),
                                 host=target.name) from None
        except UnsafeValue as exc:
            raise BootstrapError(f"unsafe value: {exc}", origin=_template_origin(exc.__traceback__),
                                 host=target.name) from None


def _check_dest(dest: str, spec: ArtifactSpec, target: Target, role: Role) -> None:
    """A destination names one file, on the host (absolute) or in the host's build folder
    (relative), and never climbs: an inventory value in a templated dest must not move it."""
    parts = dest.strip("/").split("/")
    if not dest.strip("/") or "\x00" in dest or any(p in ("", ".", "..") for p in parts):
        raise BootstrapError(f"role {role.name}: destination {dest!r} must name a file without "
                             "empty, '.' or '..' parts", origin=spec.origin, host=target.name)


def _template_origin(tb: TracebackType | None) -> Origin | None:
    """The template file:line of the innermost template frame (Jinja rewrites tracebacks)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(TEMPLATE_SUFFIX) or "<template>" in filename:
            found = Origin(filename, tb.tb_lineno)
        tb = tb.tb_next
    return found

