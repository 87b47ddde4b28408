"""Stage 3, render: each selected host's roles turned into artifacts, in memory.

``registry`` reads the roles (``role.yml``) and is the one list of them, ``renderer`` builds the
Jinja environment and runs role x host -> artifacts, ``filters`` escape values for the syntax a
template prints them into. Nothing here writes a file.
"""
