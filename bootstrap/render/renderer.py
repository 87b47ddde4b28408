"""Rendering: a typed host and its roles in, artifacts out. Pure: no network, no build directory.

Decisions are made in Python (a role's ``context`` function on its validated settings) and handed
to templates as plain values; templates only print, through the escaping filters of
:mod:`bootstrap.render.filters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from bootstrap.errors import BootstrapError, Origin
from bootstrap.hosts.model import NAMESPACES, Connection, validate
from bootstrap.hosts.secrets import Revealed, bind, contains_reference, placeholders, revealing
from bootstrap.inventory.loading import ROLES_KEY, Host, Inventory
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


@dataclass(frozen=True)
class Target:
    """A host ready to render: its resolved variables (secrets as references), typed."""

    name: str
    groups: tuple[str, ...]
    vars: dict[str, Any]
    roles: tuple[str, ...]
    connection: Connection
    settings: dict[str, Any] = field(default_factory=dict)
    basedir: Path = Path(".")
    # file:line of a key path in the host's variables, for errors raised by a role's context
    locate: Callable[[tuple[Any, ...]], Origin] | None = field(default=None, compare=False)

    def origin(self, *keypath: Any) -> Origin | None:
        return self.locate(keypath) if self.locate is not None else None


class Renderer:
    """Holds the Jinja environment and the role registry for one inventory."""

    def __init__(self, inventory: Inventory, secret_dirs: tuple[Path, ...] = ()) -> None:
        self.inventory = inventory
        # Where {file: ...} references resolve: the inventory folder, then --secrets-dir folders.
        self.secret_roots = (inventory.basedir, *secret_dirs)
        self.registry = Registry(inventory.basedir)
        self.template_dirs = search_path("templates", inventory.basedir)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(p) for p in self.template_dirs]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
            auto_reload=False,
        )
        self.env.filters.update(FILTERS)
        self._owners: dict[str, Role] | None = None
        self._plain: dict[int, Any] = {}
        # Warnings from role contexts (a context returns them under "warnings"); the caller
        # decides where they go, so rendering stays free of output.
        self.warnings: list[str] = []

    # -- typing a host ----------------------------------------------------------------------

    def target(self, host: Host) -> Target:
        """Resolve, bind secret references, and validate every namespace of the host."""
        inv = self.inventory
        raw = inv.resolve(host)
        where = _Locator(inv, host)
        plain = self._plain
        values = {k: v if id(v) in plain else self._bind(v, host.name, k, where)
                  for k, v in raw.items()}
        roles = self._roles(host, values.get(ROLES_KEY, []), where)
        connection = validate(Connection, values, host=host.name, key="", origin=where.top)
        settings: dict[str, Any] = {}
        for role in roles:
            if role.namespace and role.model is not None:
                settings[role.namespace] = self._settings(host, role, values, where)
        for namespace in NAMESPACES:
            if namespace in values and namespace not in settings and namespace != ROLES_KEY:
                self._check_keys(host, namespace, values[namespace], where)
        groups = tuple(g.name for g in inv.host_groups(host))
        return Target(host.name, groups, values, tuple(r.name for r in roles), connection,
                      settings, inv.basedir, where.top)

    def _bind(self, value: Any, host: str, key: str, where: _Locator) -> Any:
        """``value`` with its secret references bound to the host; shared values without any
        reference (most group_vars) are checked once per inventory, not once per host."""
        if not isinstance(value, dict | list) or not contains_reference(value):
            # Held here, so an id in _plain always names this very object.
            self._plain[id(value)] = value
            return value
        return bind(value, host, key, where.under(key), roots=self.secret_roots)

    def _roles(self, host: Host, value: Any, where: _Locator) -> list[Role]:
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise BootstrapError("must be a list of role names", origin=where.top((ROLES_KEY,)),
                                 host=host.name, key=ROLES_KEY)
        roles = []
        for index, name in enumerate(value):
            try:
                roles.append(self.registry.get(name))
            except BootstrapError as exc:
                raise exc.with_context(origin=where.roles_origin(name), host=host.name,
                                       key=f"{ROLES_KEY}[{index}]") from None
        return roles

    def _settings(self, host: Host, role: Role, values: dict[str, Any], where: _Locator) -> Any:
        namespace = role.namespace or ""
        given = values.get(namespace, {})
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise BootstrapError(f"must be a mapping, found {type(given).__name__}",
                                 origin=where.under(namespace)(()), host=host.name, key=namespace)
        merged = _deep_merge(role.defaults, given)
        return validate(role.model, merged, host=host.name, key=namespace,
                        origin=where.under(namespace))

    def _check_keys(self, host: Host, namespace: str, value: Any, where: _Locator) -> None:
        """A namespace no active role owns: still no unknown keys or wrong types in it."""
        owner = self.owners().get(namespace)
        if owner is None or owner.model is None or not isinstance(value, dict):
            return
        validate(owner.model, _deep_merge(owner.defaults, value), host=host.name, key=namespace,
                 origin=where.under(namespace), partial=True)

    def owners(self) -> dict[str, Role]:
        if self._owners is None:
            roles = (self.registry.get(n) for n in self.registry.names())
            self._owners = {r.namespace: r for r in roles if r.namespace}
        return self._owners

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
            return self._guard(lambda: template.render(context), target).encode()

    def _template(self, name: str, context: dict[str, Any],
                  target: Target) -> tuple[str, Revealed]:
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise BootstrapError(f"template {name!r} not found in "
                                 f"{', '.join(str(p) for p in self.template_dirs)}",
                                 host=target.name) from None
        except jinja2.TemplateSyntaxError as exc:
            raise BootstrapError(f"template syntax: {exc.message}",
                                 origin=Origin(exc.filename or name, exc.lineno)) from None
        with revealing(target.basedir) as revealed:
            text = self._guard(lambda: template.render(context), target, revealed)
        return text, revealed

    def _string(self, source: str, context: dict[str, Any], target: Target) -> str:
        return self._guard(lambda: self.env.from_string(source).render(context), target)

    def _guard_call(self, call: Callable[[], list[Artifact]], target: Target) -> list[Artifact]:
        try:
            return call()
        except BootstrapError as exc:
            raise exc.with_context(host=target.name) from None

    def _guard(self, render: Callable[[], str], target: Target,
               revealed: Revealed | None = None) -> str:
        try:
            return render()
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


class _Locator:
    """Finds the file:line of a host's key path from the inventory's provenance."""

    def __init__(self, inventory: Inventory, host: Host) -> None:
        self.inventory = inventory
        self.host = host

    def top(self, loc: tuple[Any, ...]) -> Origin:
        if not loc:
            return self.host.defined.origin
        return self.under(str(loc[0]))(loc[1:])

    def under(self, key: str) -> Callable[[tuple[Any, ...]], Origin]:
        # Lazy: provenance is looked up only when an error or a secret reference needs a line.
        def origin(loc: tuple[Any, ...]) -> Origin:
            value = self.inventory.explain(self.host, key)
            if value is None:
                return self.host.defined.origin
            return value.where.file.origin((*value.where.keypath, *loc))

        return origin

    def roles_origin(self, name: str) -> Origin:
        # bootstrap_roles is a union: point at the layer that named this role.
        for layer in reversed(self.inventory.layers(self.host)):
            if ROLES_KEY not in layer.vars:
                continue
            for names, where in reversed(layer.values(ROLES_KEY)):
                if isinstance(names, list) and name in names:
                    return where.file.origin((*where.keypath, names.index(name)))
        return self.host.defined.origin


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _template_origin(tb: TracebackType | None) -> Origin | None:
    """The template file:line of the innermost template frame (Jinja rewrites tracebacks)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(TEMPLATE_SUFFIX) or "<template>" in filename:
            found = Origin(filename, tb.tb_lineno)
        tb = tb.tb_next
    return found

