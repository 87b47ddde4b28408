"""One module per CLI command beyond inventory/render: ``HELP``, ``add_arguments``, ``run``.

Keep module-level imports light (argparse, pathlib): heavy libraries load inside ``run``.
"""
