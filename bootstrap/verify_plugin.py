"""The name users pass to pytest (``pytest -p bootstrap.verify_plugin``) for the roles' checks.

The plugin itself is :mod:`bootstrap.fleet.pytest_plugin`; this module only loads it.
"""

pytest_plugins = ["bootstrap.fleet.pytest_plugin"]
