"""``plugin: constructed`` inventory files, as ansible-core's ``constructed`` plugin reads them.

It adds nothing of its own: for every host the sources read before it define (in an inventory
folder, the files whose names sort earlier), ``compose`` sets variables, then ``groups`` and
``keyed_groups`` add the host to groups (see :mod:`bootstrap.inventory.construct`). The
expressions see what the plugin gives them: the inline variables of the host's groups (by
Ansible's group precedence) and of the host, and ``inventory_hostname``, ``group_names``...;
group_vars/ and host_vars/ files are not among them (``use_vars_plugins`` is not supported).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.inventory.construct import CONSTRUCT_OPTIONS, Construct, Sink, option, refuse_unknown
from bootstrap.inventory.yamlfile import YamlFile

NAMES = ("constructed", "ansible.builtin.constructed")
SUPPORTED = ("plugin", *CONSTRUCT_OPTIONS, "use_vars_plugins", "use_extra_vars")


def is_plugin(name: Any) -> bool:
    return name in NAMES


def load(file: YamlFile, sink: Sink, hosts: list[str],
         host_vars: Callable[[str], Mapping[str, Any]]) -> None:
    """Apply the constructed file to ``hosts``; ``host_vars(host)`` gives what Ansible's
    plugin would see for the host at this point."""
    data = file.data
    refuse_unknown(file, data, "constructed", SUPPORTED)
    for name in ("use_vars_plugins", "use_extra_vars"):
        if option(file, data, name, bool, False):
            raise BootstrapError(f"constructed option {name!r} is not supported",
                                 origin=file.origin((name,)))
    construct = Construct.from_options(file, data)
    for host in hosts:
        construct.apply(sink, host, host_vars(host), refetch=lambda h=host: host_vars(h))
