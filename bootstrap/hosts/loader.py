"""The one host loader: an inventory, a host pattern and the roles in, typed hosts out.

Every command that works on hosts (render, push, verify, launch, terminate) goes through
:class:`HostLoader`, so each prints the same warnings (the inventory's, then each selected
host's ties between groups, once) and types a host the same way: variables resolved, secret
references bound to the host, the connection vars and each role's namespace validated.

The roles come from the caller as a :class:`RoleTable` (the role registry is one): this stage
sits below rendering and knows a role only by its name, namespace, settings model and
defaults. Every namespace a role of the table owns is checked on every host, also on a host
without that role, so a mistyped key never waits for the day the role is added.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from bootstrap.errors import BootstrapError, Origin
from bootstrap.hosts.model import Connection, validate
from bootstrap.hosts.secrets import bind, contains_reference
from bootstrap.inventory.loading import ROLES_KEY, Host, Inventory, own_layers
from bootstrap.inventory.patterns import select
from bootstrap.inventory.vault import Vaulted
from bootstrap.inventory.vaultpass import VaultKeys


class RoleSpec(Protocol):
    """What typing a host needs of a role."""

    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str | None: ...

    @property
    def model(self) -> Any: ...  # a pydantic model of the namespace, or None

    @property
    def defaults(self) -> dict[str, Any]: ...

    @property
    def reads(self) -> tuple[str, ...]: ...  # other roles' namespaces it reads


class RoleTable(Protocol):
    """The known roles: a name gives its role (an unknown name is a BootstrapError)."""

    def get(self, name: str) -> RoleSpec: ...

    def names(self) -> list[str]: ...


R = TypeVar("R", bound=RoleTable)


def print_warning(text: str) -> None:
    """How every command shows a warning: one line on stderr."""
    print(f"warning: {text}", file=sys.stderr)


@dataclass(frozen=True)
class Target:
    """A typed host: its resolved variables (secrets as references) and validated settings."""

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


class HostLoader(Generic[R]):
    """Types the hosts of one inventory with one table of roles."""

    def __init__(self, inventory: Inventory, roles: R, secret_dirs: tuple[Path, ...] = (),
                 warn: Callable[[str], None] = print_warning) -> None:
        self.inventory = inventory
        self.roles = roles
        # Where {file: ...} references resolve: the inventory folder, then --secrets-dir folders.
        self.secret_roots = (inventory.basedir, *secret_dirs)
        self.warn = warn
        self._warned: set[str] = set()
        self._owners: dict[str, RoleSpec] | None = None
        # id of a shared dict of group variables -> (that dict, its keys holding a reference)
        self._plain: dict[int, tuple[dict[str, Any], list[str]]] = {}
        for warning in inventory.warnings:
            warn(warning)

    @classmethod
    def open(cls, source: Path, roles: Callable[[Path], R], secret_dirs: tuple[Path, ...] = (),
             warn: Callable[[str], None] = print_warning,
             vault: VaultKeys | None = None) -> HostLoader[R]:
        """Load the inventory at ``source``; ``roles(folder)`` gives the roles of the inventory
        in ``folder`` (built-in ones and its own). Vault-encrypted values decrypt with ``vault``,
        by default the passwords of the command under way."""
        inventory = Inventory(source, vault)
        return cls(inventory, roles(inventory.basedir), secret_dirs, warn)

    def select(self, pattern: str | None) -> list[str]:
        """The names an Ansible host pattern selects (every host for None), in inventory order."""
        return select(self.inventory, pattern)

    def targets(self, pattern: str | None) -> Iterator[Target]:
        """The selected hosts, typed one after the other (an error stops at its host)."""
        for name in self.select(pattern):
            yield self.target(name)

    def target(self, name: str) -> Target:
        """Resolve, bind secret references, and validate every namespace of host ``name``."""
        inv = self.inventory
        host = inv.hosts[name]
        for warning in inv.conflicts(host):
            if warning not in self._warned:
                self._warned.add(warning)
                self.warn(warning)
        where = _Locator(inv, host)
        values = self._bound(host, inv.resolve(host), where)
        roles = self._roles(host, values.get(ROLES_KEY, []), where)
        connection = validate(Connection, values, host=host.name, key="", origin=where.top)
        settings: dict[str, Any] = {}
        for role in roles:
            if role.namespace and role.model is not None:
                settings[role.namespace] = self._settings(host, role, values, where)
        owners = self.owners()
        for namespace in (n for role in roles for n in role.reads):
            if namespace not in settings and namespace in owners:
                settings[namespace] = self._settings(host, owners[namespace], values, where)
        for namespace, owner in owners.items():
            if namespace in values and namespace not in settings:
                self._check_keys(host, owner, values[namespace], where)
        groups = tuple(g.name for g in inv.host_groups(host))
        return Target(host.name, groups, values, tuple(r.name for r in roles), connection,
                      settings, inv.basedir, where.top)

    def owners(self) -> dict[str, RoleSpec]:
        """Each namespace a known role owns, and that role; read once per inventory."""
        if self._owners is None:
            roles = (self.roles.get(n) for n in self.roles.names())
            self._owners = {r.namespace: r for r in roles
                            if r.namespace and r.namespace != ROLES_KEY}
        return self._owners

    def _bound(self, host: Host, values: dict[str, Any], where: _Locator) -> dict[str, Any]:
        """``values`` (the host's, resolved) with their secret references bound to the host.

        The values the host's groups give it are searched for references once for all the
        hosts in the same groups, not once per host: only those holding one, the host's own
        values and the roles list (made per host) are looked at here.
        """
        shared, _ = self.inventory.group_vars(host)
        found = self._plain.get(id(shared))
        if found is None:
            # The shared dict is held here, so its id always names this very object.
            found = self._plain[id(shared)] = (shared, [k for k, v in shared.items()
                                                        if _holds_reference(v)])
        own = dict.fromkeys(k for layer in own_layers(host) for k in layer.vars)
        if ROLES_KEY in values:
            own[ROLES_KEY] = None
        for key in found[1]:
            if key not in own:
                values[key] = bind(values[key], host.name, key, where.under(key),
                                   roots=self.secret_roots)
        for key in own:
            if _holds_reference(values[key]):
                values[key] = bind(values[key], host.name, key, where.under(key),
                                   roots=self.secret_roots)
        return values

    def _roles(self, host: Host, value: Any, where: _Locator) -> list[RoleSpec]:
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise BootstrapError("must be a list of role names", origin=where.top((ROLES_KEY,)),
                                 host=host.name, key=ROLES_KEY)
        roles = []
        for index, name in enumerate(value):
            try:
                roles.append(self.roles.get(name))
            except BootstrapError as exc:
                raise exc.with_context(origin=where.roles_origin(name), host=host.name,
                                       key=f"{ROLES_KEY}[{index}]") from None
        return roles

    def _settings(self, host: Host, role: RoleSpec, values: dict[str, Any],
                  where: _Locator) -> Any:
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

    def _check_keys(self, host: Host, owner: RoleSpec, value: Any, where: _Locator) -> None:
        """A namespace no role of the host owns: still no unknown keys or wrong types in it."""
        if owner.model is None or not isinstance(value, dict):
            return
        namespace = owner.namespace or ""
        validate(owner.model, _deep_merge(owner.defaults, value), host=host.name, key=namespace,
                 origin=where.under(namespace), partial=True)


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


def _holds_reference(value: Any) -> bool:
    """Whether ``value`` holds a secret reference to bind (a scalar never does)."""
    return isinstance(value, dict | list | Vaulted) and contains_reference(value)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
