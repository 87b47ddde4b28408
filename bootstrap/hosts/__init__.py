"""Stage 2, the hosts: typed settings of each namespace, connection vars and secret references.

``loader`` is the one host loader every command uses: an inventory, a host pattern and the
roles in, typed targets and the inventory's warnings out. ``model`` holds the base every
settings model derives from and turns pydantic's errors into one that names file:line and key;
``secrets`` resolves ``{env: NAME}`` / ``{file: path}`` references and keeps them out of what
is shown; ``syntax`` says which values a system file would misread.
"""
