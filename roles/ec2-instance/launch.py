"""The role's settings are the instance itself (AMI, type, network, volumes, tags): launch
starts hosts with them (see the ``launch`` hook in bootstrap.render.hooks). With
``aws.publish``, the instance role carries the policy the fleet hook wrote for the host's pull."""

from __future__ import annotations

from bootstrap.hosts.loader import Target
from bootstrap.render.hooks import LaunchNeeds
from bootstrap.roles.ec2_instance.fleet_policy import policy_name
from bootstrap.roles.ec2_instance.settings import Aws


def needs(target: Target, settings: Aws | None) -> LaunchNeeds:
    policy = policy_name(target.name) if settings is not None and settings.publish else None
    return LaunchNeeds(instance=True, settings=settings, policy=policy)
