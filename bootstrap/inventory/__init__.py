"""Stage 1, the inventory: Ansible-compatible sources read into hosts, groups and resolved vars.

``loading`` reads a file or folder as ansible-core would, ``patterns`` selects hosts the way
``--limit`` does, ``yamlfile`` is the YAML reader every stage uses (with file:line provenance),
``hostnames`` and ``limits`` bound what an inventory may hold.
"""
