"""What launch does for a Chef host (see the ``launch`` hook in bootstrap.render.hooks): upload
the keys the first boot fetches from ``chef.s3``, and give the instance role the policy the
fleet hook wrote for that location, so the instance may read them and nothing else."""

from __future__ import annotations

from bootstrap.hosts.loader import Target
from bootstrap.render.hooks import LaunchNeeds, Upload
from bootstrap.roles.chef_client.context import s3_objects
from bootstrap.roles.chef_client.fleet_policy import location_name
from bootstrap.roles.chef_client.settings import Chef


def needs(target: Target, settings: Chef | None) -> LaunchNeeds:
    if settings is None:
        return LaunchNeeds()
    location = settings.s3
    uploads = tuple(Upload(location.bucket, key, location.region, ref, location.kms_key_arn)
                    for key, ref in s3_objects(settings))
    return LaunchNeeds(uploads=uploads, policy=location_name(location))
