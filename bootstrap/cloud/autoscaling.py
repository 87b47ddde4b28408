"""Group templates: an Auto Scaling group on the host's launch template, behind a load balancer.

A host whose instance settings have ``autoscaling`` is not an instance but the template of a
group's instances: launch writes its launch template version (see :mod:`bootstrap.cloud.launch`),
then brings in line, in this order and each only when it differs from what AWS reports:

1. the target group and its health check (port, protocol and VPC cannot change in place);
2. the Application Load Balancer, when the settings describe one, or the existing one they name;
3. the listener on it that forwards to the target group;
4. the group, pointing at the exact template version just written (never ``$Latest``, so what
   runs is what was launched), with its sizes, subnets, health check and target group;
5. an instance refresh when the template version changed under an existing group and the
   settings ask for one: AWS replaces the instances a few at a time, keeping the healthy share.

A rerun with nothing changed reads and writes nothing. What launch creates carries the tag
``bootstrap:template`` = host, so ``terminate --delete`` removes only what launch made: the
group, then the load balancer (with its listeners) or the listener it added to someone else's,
the target group, and the launch template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bootstrap.cloud.client import Api, CallFailed
from bootstrap.errors import BootstrapError

TEMPLATE_TAG = "bootstrap:template"
NO_TARGET_GROUP = ("TargetGroupNotFound",)
NO_LOAD_BALANCER = ("LoadBalancerNotFound",)
NO_TEMPLATE = ("InvalidLaunchTemplateName.NotFoundException",
               "InvalidLaunchTemplateId.NotFound")
# An existing load balancer named by the settings gets its listener on this port.
DEFAULT_LISTENER_PORT = 80
# Said once per host: (changed, text).
Say = Callable[[bool, str], None]


@dataclass(frozen=True)
class Group:
    """One group template's names and settings (the instance settings' ``autoscaling``)."""

    host: str
    template: str
    settings: Any  # min, max, desired, subnets, health_check, target_group, load_balancer, ...
    namespace: str

    @property
    def name(self) -> str:
        return str(self.settings.name or self.template)

    @property
    def tags(self) -> list[dict[str, str]]:
        return [{"Key": TEMPLATE_TAG, "Value": self.host}]

    def error(self, message: str, *keypath: str) -> BootstrapError:
        key = ".".join((self.namespace, "autoscaling", *keypath))
        return BootstrapError(message, host=self.host, key=key)


def ensure(api: Api, group: Group, version: int | str, template_changed: bool,
           say: Say) -> None:
    """Bring the target group, load balancer, listener and group in line (see module doc)."""
    target_group = None
    if group.settings.target_group is not None:
        target_group = _target_group(api, group, say)
        if group.settings.load_balancer is not None:
            balancer, ours = _load_balancer(api, group, say)
            _listener(api, group, balancer, ours, target_group, say)
    existed = _group(api, group, version, target_group, say)
    refresh = group.settings.instance_refresh
    if existed and template_changed and refresh is not None:
        _refresh(api, group, refresh, say)


# -- the target group ---------------------------------------------------------------------------


def _target_group(api: Api, group: Group, say: Say) -> str:
    tg = group.settings.target_group
    health = {
        "HealthCheckProtocol": tg.protocol, "HealthCheckPath": tg.path,
        "HealthCheckIntervalSeconds": tg.interval_seconds,
        "HealthCheckTimeoutSeconds": tg.timeout_seconds,
        "HealthyThresholdCount": tg.healthy_threshold,
        "UnhealthyThresholdCount": tg.unhealthy_threshold,
        "Matcher": {"HttpCode": tg.matcher},
    }
    found = api.call("elbv2", "DescribeTargetGroups", missing=NO_TARGET_GROUP, Names=[tg.name])
    current = (found or {}).get("TargetGroups") or []
    if not current:
        made = api.call("elbv2", "CreateTargetGroup", Name=tg.name, Protocol=tg.protocol,
                        Port=tg.port, VpcId=tg.vpc_id, TargetType="instance", Tags=group.tags,
                        **health) or {}
        say(True, f"target group {tg.name} created ({tg.protocol}:{tg.port}, health check "
                  f"{tg.path})")
        return _arn(made, "TargetGroups", "TargetGroupArn", f"<arn of target group {tg.name}>")
    have = current[0]
    fixed = {"Protocol": tg.protocol, "Port": tg.port, "VpcId": tg.vpc_id}
    moved = [k for k, v in fixed.items() if have.get(k) != v]
    if moved:
        raise group.error(
            f"target group {tg.name} exists with {', '.join(f'{k} {have.get(k)}' for k in moved)}"
            f"; AWS cannot change that in place: name a new target group", "target_group")
    arn = str(have["TargetGroupArn"])
    if any(have.get(k) != v for k, v in health.items()):
        api.call("elbv2", "ModifyTargetGroup", TargetGroupArn=arn, **health)
        say(True, f"target group {tg.name}: health check updated")
    else:
        say(False, f"target group {tg.name} unchanged")
    return arn


# -- the load balancer and its listener ---------------------------------------------------------


def _load_balancer(api: Api, group: Group, say: Say) -> tuple[str, bool]:
    """The load balancer's ARN, and whether launch owns it (created it from the settings)."""
    wanted = group.settings.load_balancer
    name = wanted if isinstance(wanted, str) else wanted.name
    found = api.call("elbv2", "DescribeLoadBalancers", missing=NO_LOAD_BALANCER, Names=[name])
    current = (found or {}).get("LoadBalancers") or []
    if isinstance(wanted, str):
        if current:
            say(False, f"load balancer {name} found")
            return str(current[0]["LoadBalancerArn"]), False
        if api.dry_run:
            return f"<arn of load balancer {name}>", False
        raise group.error(f"no load balancer named {name} in this region: describe one "
                          f"(name, subnets) for launch to create", "load_balancer")
    if not current:
        params: dict[str, Any] = {"Name": name, "Subnets": list(wanted.subnets),
                                  "Scheme": wanted.scheme, "Type": "application",
                                  "IpAddressType": "ipv4", "Tags": group.tags}
        if wanted.security_group_ids:
            params["SecurityGroups"] = list(wanted.security_group_ids)
        made = api.call("elbv2", "CreateLoadBalancer", **params) or {}
        say(True, f"load balancer {name} created ({wanted.scheme})")
        return _arn(made, "LoadBalancers", "LoadBalancerArn",
                    f"<arn of load balancer {name}>"), True
    have = current[0]
    arn = str(have["LoadBalancerArn"])
    if have.get("Scheme") != wanted.scheme:
        raise group.error(f"load balancer {name} is {have.get('Scheme')}; AWS cannot change the "
                          f"scheme in place", "load_balancer", "scheme")
    changed = False
    subnets = sorted(z.get("SubnetId") for z in have.get("AvailabilityZones", []))
    if subnets != sorted(wanted.subnets):
        api.call("elbv2", "SetSubnets", LoadBalancerArn=arn, Subnets=list(wanted.subnets))
        say(True, f"load balancer {name}: subnets set")
        changed = True
    if wanted.security_group_ids and \
            sorted(have.get("SecurityGroups", [])) != sorted(wanted.security_group_ids):
        api.call("elbv2", "SetSecurityGroups", LoadBalancerArn=arn,
                 SecurityGroups=list(wanted.security_group_ids))
        say(True, f"load balancer {name}: security groups set")
        changed = True
    if not changed:
        say(False, f"load balancer {name} unchanged")
    return arn, True


def _listener(api: Api, group: Group, balancer: str, ours: bool, target_group: str,
              say: Say) -> None:
    wanted = group.settings.load_balancer
    port = DEFAULT_LISTENER_PORT if isinstance(wanted, str) else wanted.listener_port
    forward = [{"Type": "forward", "TargetGroupArn": target_group}]
    found = api.call("elbv2", "DescribeListeners", missing=NO_LOAD_BALANCER,
                     LoadBalancerArn=balancer) or {}
    same_port = [x for x in found.get("Listeners", []) if x.get("Port") == port]
    if not same_port:
        api.call("elbv2", "CreateListener", LoadBalancerArn=balancer, Protocol="HTTP", Port=port,
                 DefaultActions=forward, Tags=group.tags)
        say(True, f"listener HTTP:{port} created, forwarding to {group.settings.target_group.name}")
        return
    listener = same_port[0]
    targets = [a.get("TargetGroupArn") for a in listener.get("DefaultActions", [])]
    if targets == [target_group]:
        say(False, f"listener HTTP:{port} unchanged")
        return
    if not ours:
        raise group.error(f"the listener on port {port} of load balancer {wanted} forwards "
                          f"elsewhere; launch changes only listeners of load balancers it "
                          f"created", "load_balancer")
    api.call("elbv2", "ModifyListener", ListenerArn=listener["ListenerArn"],
             DefaultActions=forward)
    say(True, f"listener HTTP:{port} now forwards to {group.settings.target_group.name}")


# -- the group and its instance refresh ---------------------------------------------------------


def describe_group(api: Api, name: str) -> dict[str, Any] | None:
    found = api.call("autoscaling", "DescribeAutoScalingGroups",
                     AutoScalingGroupNames=[name]) or {}
    groups = found.get("AutoScalingGroups") or []
    return groups[0] if groups else None


def _group(api: Api, group: Group, version: int | str, target_group: str | None,
           say: Say) -> bool:
    """Create or update the group; True when it existed before."""
    s = group.settings
    wanted: dict[str, Any] = {
        "LaunchTemplate": {"LaunchTemplateName": group.template, "Version": str(version)},
        "MinSize": s.min, "MaxSize": s.max,
        "VPCZoneIdentifier": ",".join(s.subnets),
        "HealthCheckType": s.health_check.type,
        "HealthCheckGracePeriod": s.health_check.grace_seconds,
    }
    if s.desired is not None:
        wanted["DesiredCapacity"] = s.desired
    have = describe_group(api, group.name)
    if have is None:
        extra: dict[str, Any] = {"TargetGroupARNs": [target_group]} if target_group else {}
        api.call("autoscaling", "CreateAutoScalingGroup", AutoScalingGroupName=group.name,
                 **wanted, **extra, Tags=[{**t, "PropagateAtLaunch": False,
                                           "ResourceId": group.name,
                                           "ResourceType": "auto-scaling-group"}
                                          for t in group.tags])
        say(True, f"Auto Scaling group {group.name} created on {group.template} version "
                  f"{version} ({s.min}..{s.max})")
        return False
    differs = [k for k, v in wanted.items() if not _same(k, v, have)]
    if differs:
        api.call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName=group.name,
                 **wanted)
        say(True, f"Auto Scaling group {group.name} updated ({', '.join(differs)})")
    else:
        say(False, f"Auto Scaling group {group.name} unchanged")
    if target_group and target_group not in have.get("TargetGroupARNs", []):
        api.call("autoscaling", "AttachLoadBalancerTargetGroups",
                 AutoScalingGroupName=group.name, TargetGroupARNs=[target_group])
        say(True, f"Auto Scaling group {group.name}: target group attached")
    return True


def _same(key: str, wanted: Any, have: dict[str, Any]) -> bool:
    if key == "LaunchTemplate":
        current = have.get("LaunchTemplate") or {}
        return bool(current.get("LaunchTemplateName") == wanted["LaunchTemplateName"]
                    and str(current.get("Version")) == wanted["Version"])
    if key == "VPCZoneIdentifier":
        return sorted(str(have.get(key, "")).split(",")) == sorted(wanted.split(","))
    return bool(have.get(key) == wanted)


def _refresh(api: Api, group: Group, refresh: Any, say: Say) -> None:
    preferences: dict[str, Any] = {"MinHealthyPercentage": refresh.min_healthy_percentage}
    if refresh.warmup_seconds is not None:
        preferences["InstanceWarmup"] = refresh.warmup_seconds
    try:
        started = api.call("autoscaling", "StartInstanceRefresh", AutoScalingGroupName=group.name,
                           Strategy="Rolling", Preferences=preferences) or {}
    except CallFailed as exc:
        if exc.code != "InstanceRefreshInProgress":
            raise
        say(False, f"Auto Scaling group {group.name}: an instance refresh is already running; "
                   f"start another after it to roll out the new version")
        return
    say(True, f"Auto Scaling group {group.name}: instance refresh "
              f"{started.get('InstanceRefreshId', '<id>')} started (keeps "
              f"{refresh.min_healthy_percentage}% healthy)")


# -- terminate ----------------------------------------------------------------------------------


def retire(api: Api, group: Group, delete: bool, say: Callable[[str], None]) -> list[str]:
    """Set the group's capacity to zero (and with ``delete`` remove what launch created for it);
    the ids of the instances it had."""
    have = describe_group(api, group.name)
    if have is None and not api.dry_run:
        say(f"{group.host}: no Auto Scaling group {group.name}; nothing to scale in")
        ids: list[str] = []
    else:
        ids = [i["InstanceId"] for i in (have or {}).get("Instances", [])]
        api.call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName=group.name,
                 MinSize=0, DesiredCapacity=0)
        say(f"{group.host}: Auto Scaling group {group.name} scaled to 0 "
            f"({len(ids)} instance{'s' if len(ids) != 1 else ''} terminating)")
    if not delete:
        return ids
    if have is not None or api.dry_run:
        api.call("autoscaling", "DeleteAutoScalingGroup", AutoScalingGroupName=group.name,
                 ForceDelete=True)
        say(f"{group.host}: Auto Scaling group {group.name} deleted")
    _delete_owned(api, group, say)
    return ids


def _owned(api: Api, group: Group, arn: str) -> bool:
    found = api.call("elbv2", "DescribeTags", ResourceArns=[arn]) or {}
    tags = [t for d in found.get("TagDescriptions", []) for t in d.get("Tags", [])]
    return {"Key": TEMPLATE_TAG, "Value": group.host} in tags


def _delete_owned(api: Api, group: Group, say: Callable[[str], None]) -> None:
    s = group.settings
    target_group = None
    if s.target_group is not None:
        found = api.call("elbv2", "DescribeTargetGroups", missing=NO_TARGET_GROUP,
                         Names=[s.target_group.name]) or {}
        groups = found.get("TargetGroups") or []
        target_group = str(groups[0]["TargetGroupArn"]) if groups else None
    if s.load_balancer is not None:
        name = s.load_balancer if isinstance(s.load_balancer, str) else s.load_balancer.name
        found = api.call("elbv2", "DescribeLoadBalancers", missing=NO_LOAD_BALANCER,
                         Names=[name]) or {}
        for balancer in found.get("LoadBalancers") or []:
            arn = str(balancer["LoadBalancerArn"])
            if _owned(api, group, arn):
                api.call("elbv2", "DeleteLoadBalancer", LoadBalancerArn=arn)
                say(f"{group.host}: load balancer {name} deleted (with its listeners)")
                continue
            listeners = api.call("elbv2", "DescribeListeners", LoadBalancerArn=arn) or {}
            for listener in listeners.get("Listeners", []):
                if _owned(api, group, listener["ListenerArn"]):
                    api.call("elbv2", "DeleteListener", ListenerArn=listener["ListenerArn"])
                    say(f"{group.host}: listener HTTP:{listener.get('Port')} of {name} deleted")
    if target_group is not None and _owned(api, group, target_group):
        api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=target_group)
        say(f"{group.host}: target group {s.target_group.name} deleted")
    gone = api.call("ec2", "DeleteLaunchTemplate", missing=NO_TEMPLATE,
                    LaunchTemplateName=group.template)
    if gone is not None or api.dry_run:
        say(f"{group.host}: launch template {group.template} deleted")


def _arn(made: dict[str, Any], key: str, field: str, placeholder: str) -> str:
    items = made.get(key) or [{}]
    return str(items[0].get(field, placeholder))
