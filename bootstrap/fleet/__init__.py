"""Stage 5b, the fleet: the built files copied to hosts over SSH, and the hosts verified.

``pool`` loads the selected hosts (connection vars from the inventory, files from the build) and
runs one job per host with a progress line; ``transport`` is the SSH session; ``push`` and
``verify`` are the two jobs; ``checks`` collects the roles' testinfra checks (plus
``manifest_checks`` for every host) and ``pytest_plugin`` runs them under plain pytest;
``filestate`` compares a host's files with the manifest; ``report`` prints tables, JSON and JUnit.
"""
