"""Stage 4, the build directory: what render's artifacts change in it, and how it is written.

``planner`` compares the rendered artifacts with the previous build and says what changes (and
shows the diff), ``directory`` is the atomic writer and the reader of a build and its manifests.
"""
