"""bootstrap: one Ansible-style inventory in, everything a host needs to come up right out."""

__version__ = "0.1.0"
