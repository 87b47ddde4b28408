"""One module per CLI command: ``HELP``, ``add_arguments``, ``run``.

Keep module-level imports light (argparse, pathlib): heavy libraries load inside ``run``.
"""
