"""``bootstrap terminate``: stop a launched host's instance and say how to forget its node.

The instance is found by the ``bootstrap:host`` tag launch gave it (any state but terminated).
The node's certificate and client stay on the Puppet and Chef servers until someone removes
them, so the command prints those commands with the names the roles gave the node: the EC2
instance id unless ``puppet.certname`` or ``chef.node_name`` says otherwise (``%s`` in a Chef
node name stands for the instance id, as in knife ec2).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from bootstrap.cloud.client import Api, CallFailed
from bootstrap.cloud.launch import HOST_TAG, find_instances, launch_region
from bootstrap.errors import BootstrapError
from bootstrap.render.renderer import Target


def cleanup_commands(target: Target, instance_id: str) -> list[str]:
    """The commands that remove the node from its configuration servers."""
    commands = []
    puppet = target.settings.get("puppet")
    if puppet is not None:
        certname = puppet.certname or instance_id
        commands.append(f"puppetserver ca clean --certname {shlex.quote(certname)}")
    chef = target.settings.get("chef")
    if chef is not None:
        # Cinc Workstation keeps the name knife, so the commands are the same for both.
        node = chef.node_name.replace("%s", instance_id, 1)
        commands.append(f"knife node delete {shlex.quote(node)} -y")
        commands.append(f"knife client delete {shlex.quote(node)} -y")
    return commands


def terminate(api: Callable[[str, str], Api], targets: list[Target], region: str | None,
              say: Callable[[str], None]) -> list[str]:
    """Terminate each host's instances; the hosts that now have none."""
    gone: list[str] = []
    cleanup: list[str] = []
    for target in targets:
        where = launch_region(target, region)
        ec2 = api(where, target.name)
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
        cleanup += [c for i in ids for c in cleanup_commands(target, i)]
    if cleanup:
        say("remove the nodes from their configuration servers (knife is Cinc Workstation's too):")
        for command in cleanup:
            say(f"  {command}")
    return gone
