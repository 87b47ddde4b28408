"""bootstrap: one Ansible-style inventory in, everything a host needs to come up right out."""

from bootstrap.render.packages import install as _install_role_packages

__version__ = "0.1.0"

# Built-in roles' code is importable as bootstrap.roles.<role> (see bootstrap.render.packages).
_install_role_packages()
