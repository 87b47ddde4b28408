"""What launch does for a Puppet host delivered by user-data (see the ``launch`` hook in
bootstrap.render.hooks): upload the challenge password the first boot fetches from
``puppet.s3``, and give the instance role the policy the fleet hook wrote for that location,
so the instance may read that one object and nothing else."""

from __future__ import annotations

from bootstrap.hosts.loader import Target
from bootstrap.render.hooks import LaunchNeeds, Upload
from bootstrap.roles.puppet_agent.context import password_location
from bootstrap.roles.puppet_agent.fleet_policy import location_name
from bootstrap.roles.puppet_agent.settings import Puppet


def needs(target: Target, settings: Puppet | None) -> LaunchNeeds:
    if settings is None or settings.challenge_password is None:
        return LaunchNeeds()
    location = password_location(target, settings)
    if location is None:
        return LaunchNeeds()
    upload = Upload(location.bucket, location.key, location.region, settings.challenge_password,
                    location.kms_key_arn)
    return LaunchNeeds(uploads=(upload,), policy=location_name(location))
