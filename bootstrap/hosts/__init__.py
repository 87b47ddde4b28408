"""Stage 2, the hosts: typed settings of each namespace, connection vars and secret references.

``model`` holds the base every settings model derives from and turns pydantic's errors into one
that names file:line and key; ``secrets`` resolves ``{env: NAME}`` / ``{file: path}`` references
and keeps them out of what is shown; ``syntax`` says which values a system file would misread.
"""
