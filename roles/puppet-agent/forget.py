"""What terminate prints to forget a terminated node: its certificate stays signed on the Puppet
server until someone cleans it (see the ``forget`` hook in bootstrap.render.hooks)."""

from __future__ import annotations

import shlex

from bootstrap.hosts.loader import Target
from bootstrap.roles.puppet_agent.settings import Puppet


def commands(target: Target, settings: Puppet, instance_id: str) -> list[str]:
    """The certname is the instance id unless ``puppet.certname`` names the node."""
    certname = settings.certname or instance_id
    return [f"puppetserver ca clean --certname {shlex.quote(certname)}"]
