"""The role's settings are the instance itself (AMI, type, network, volumes, tags): launch
starts hosts with them (see the ``launch`` hook in bootstrap.render.hooks)."""

from __future__ import annotations

from bootstrap.render.hooks import LaunchNeeds
from bootstrap.render.renderer import Target
from bootstrap.roles.ec2_instance.settings import Aws


def needs(target: Target, settings: Aws | None) -> LaunchNeeds:
    return LaunchNeeds(instance=True, settings=settings)
