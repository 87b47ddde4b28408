"""``bootstrap terminate``: stop a launched host's instance and say how to forget its node.

The instance is found by the ``bootstrap:host`` tag launch gave it (any state but terminated).
What a configuration server knows of the node (a certificate, a client) stays there until
someone removes it, so the command prints the commands that do, as each role's ``forget`` hook
gives them for the instance id (see :mod:`bootstrap.render.hooks`).
"""

from __future__ import annotations

from collections.abc import Callable

from bootstrap.cloud import autoscaling
from bootstrap.cloud.client import Api, CallFailed
from bootstrap.cloud.launch import HOST_TAG, find_instances, instance_settings, launch_region
from bootstrap.errors import BootstrapError
from bootstrap.render.hooks import of_host
from bootstrap.render.registry import Registry
from bootstrap.render.renderer import Target


def cleanup_commands(registry: Registry, target: Target, instance_id: str) -> list[str]:
    """The commands that remove the node from its configuration servers, in role order."""
    return [command for _, forget, settings in of_host(registry, target, "forget")
            for command in forget(target, settings, instance_id)]


def terminate(api: Callable[[str, str], Api], registry: Registry, targets: list[Target],
              region: str | None, say: Callable[[str], None], delete: bool = False) -> list[str]:
    """Terminate each host's instances (a group template's group is scaled to zero, and with
    ``delete`` removed with what launch made for it); the hosts that now have none."""
    gone: list[str] = []
    cleanup: list[str] = []
    for target in targets:
        where = launch_region(registry, target, region)
        ec2 = api(where, target.name)
        instance = instance_settings(registry, target)
        if instance.settings.autoscaling is not None:
            group = autoscaling.Group(target.name, str(instance.settings.launch_template),
                                      instance.settings.autoscaling, instance.namespace)
            try:
                ids = autoscaling.retire(ec2, group, delete, say)
            except CallFailed as exc:
                done = (f"done so far: {', '.join(gone)}" if gone else "nothing was terminated")
                raise BootstrapError(f"{exc.explain()}; {done}", host=target.name) from None
            cleanup += [c for i in ids for c in cleanup_commands(registry, target, i)]
            continue
        try:
            instances = find_instances(ec2, target.name)
            if not instances and not ec2.dry_run:
                say(f"{target.name}: no instance tagged {HOST_TAG}={target.name} in {where}; "
                    "nothing to terminate")
                gone.append(target.name)
                continue
            ids = [i["InstanceId"] for i in instances] or ["INSTANCE_ID"]
            ec2.call("ec2", "TerminateInstances", InstanceIds=ids)
        except CallFailed as exc:
            done = (f"done so far: {', '.join(gone)}" if gone else "nothing was terminated")
            raise BootstrapError(f"{exc.explain()}; {done}", host=target.name) from None
        gone.append(target.name)
        for instance in instances:
            state = instance["State"]["Name"]
            say(f"{target.name}: {instance['InstanceId']} terminating (was {state})")
        cleanup += [c for i in ids for c in cleanup_commands(registry, target, i)]
    if cleanup:
        say("remove the nodes from their configuration servers (knife is Cinc Workstation's too):")
        for command in cleanup:
            say(f"  {command}")
    return gone
