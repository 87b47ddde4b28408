"""``plugin: amazon.aws.aws_ec2`` inventory files, resolved with boto3 as that plugin resolves them.

The rules follow the amazon.aws collection's ``plugins/inventory/aws_ec2.py``:

- the instances of each region (``regions``, else every region DescribeRegions lists) matching
  ``filters`` and each of ``include_filters``, less those matching any of ``exclude_filters``,
  in states running, pending, stopping or stopped unless a filter names the state; sorted by id;
- a host is named by the first of ``hostnames`` the instance has a value for (default
  ``dns-name``, then ``private-dns-name``): a describe-instances filter name, ``tag:NAME``,
  ``tag:NAME=VALUE`` (giving ``NAME_VALUE``), ``tag:A,B`` (the first present), or a mapping of
  ``name``, ``prefix`` and ``separator``; an instance with none is left out;
- every host is in group ``aws_ec2``, and its variables are the instance's attributes in
  snake_case (``instance_id``, ``private_ip_address``, ``placement.region``, ...), with
  ``tags`` a mapping; times are ISO 8601 text, as ``ansible-inventory`` prints them;
- then ``compose``, ``groups`` and ``keyed_groups`` (see :mod:`bootstrap.inventory.construct`).

Options this module does not implement are errors naming the option. AWS credentials come from
boto3's usual chain (environment, profile, instance role); ``endpoint_url`` or
``AWS_ENDPOINT_URL`` points it elsewhere.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.inventory import cache, expressions, limits
from bootstrap.inventory.construct import (
    CONSTRUCT_OPTIONS,
    Construct,
    Sink,
    contrib_sanitized,
    option,
    refuse_unknown,
    safe_group_name,
)
from bootstrap.inventory.yamlfile import YamlFile

NAMES = ("aws_ec2", "amazon.aws.aws_ec2")
FILE_SUFFIXES = ("aws_ec2.yml", "aws_ec2.yaml")
GROUP = "aws_ec2"
SUPPORTED = (
    "plugin", "regions", "filters", "include_filters", "exclude_filters", "hostnames",
    "strict_permissions", "use_contrib_script_compatible_sanitization",
    "use_contrib_script_compatible_ec2_tag_keys", "hostvars_prefix", "hostvars_suffix",
    "endpoint_url", "aws_endpoint_url", "region", "aws_region", "profile", "aws_profile",
    "cache", "cache_plugin", "cache_timeout", "cache_connection", "cache_prefix",
    *CONSTRUCT_OPTIONS,
)
CACHE_PLUGINS = ("jsonfile", "ansible.builtin.jsonfile", "memory", "ansible.builtin.memory")
DEFAULT_STATES = ["running", "pending", "stopping", "stopped"]
DEFAULT_HOSTNAMES: list[Any] = ["dns-name", "private-dns-name"]

# The plugin's describe-instances filter names -> the path of the attribute in an instance.
_REFERENCE_ATTRS: dict[str, tuple[str, ...]] = {
    "group-id": ("Groups", "GroupId"),
    "group-name": ("Groups", "GroupName"),
    "network-interface.attachment.instance-owner-id": ("OwnerId",),
    "owner-id": ("OwnerId",),
    "requester-id": ("RequesterId",),
    "reservation-id": ("ReservationId",),
    "affinity": ("Placement", "Affinity"),
    "architecture": ("Architecture",),
    "availability-zone": ("Placement", "AvailabilityZone"),
    "client-token": ("ClientToken",),
    "dns-name": ("PublicDnsName",),
    "host-id": ("Placement", "HostId"),
    "hypervisor": ("Hypervisor",),
    "iam-instance-profile.arn": ("IamInstanceProfile", "Arn"),
    "image-id": ("ImageId",),
    "instance-id": ("InstanceId",),
    "instance-lifecycle": ("InstanceLifecycle",),
    "instance-state-code": ("State", "Code"),
    "instance-state-name": ("State", "Name"),
    "instance-type": ("InstanceType",),
    "instance.group-id": ("SecurityGroups", "GroupId"),
    "instance.group-name": ("SecurityGroups", "GroupName"),
    "ip-address": ("PublicIpAddress",),
    "kernel-id": ("KernelId",),
    "key-name": ("KeyName",),
    "launch-index": ("AmiLaunchIndex",),
    "launch-time": ("LaunchTime",),
    "monitoring-state": ("Monitoring", "State"),
    "network-interface.addresses.private-ip-address": ("NetworkInterfaces", "PrivateIpAddress"),
    "network-interface.association.public-ip": ("NetworkInterfaces", "Association", "PublicIp"),
    "network-interface.attachment.instance-id": ("InstanceId",),
    "network-interface.availability-zone": ("Placement", "AvailabilityZone"),
    "network-interface.description": ("NetworkInterfaces", "Description"),
    "network-interface.ipv6-addresses.ipv6-address": ("NetworkInterfaces", "Ipv6Addresses",
                                                      "Ipv6Address"),
    "network-interface.mac-address": ("NetworkInterfaces", "MacAddress"),
    "network-interface.network-interface-id": ("NetworkInterfaces", "NetworkInterfaceId"),
    "network-interface.owner-id": ("NetworkInterfaces", "OwnerId"),
    "network-interface.private-dns-name": ("NetworkInterfaces", "PrivateDnsName"),
    "network-interface.subnet-id": ("NetworkInterfaces", "SubnetId"),
    "network-interface.vpc-id": ("NetworkInterfaces", "VpcId"),
    "placement-group-name": ("Placement", "GroupName"),
    "platform": ("Platform",),
    "private-dns-name": ("PrivateDnsName",),
    "private-ip-address": ("PrivateIpAddress",),
    "ramdisk-id": ("RamdiskId",),
    "reason": ("StateTransitionReason",),
    "root-device-name": ("RootDeviceName",),
    "root-device-type": ("RootDeviceType",),
    "source-dest-check": ("SourceDestCheck",),
    "spot-instance-request-id": ("SpotInstanceRequestId",),
    "state-reason-code": ("StateReason", "Code"),
    "state-reason-message": ("StateReason", "Message"),
    "subnet-id": ("SubnetId",),
    "tag": ("Tags",),
    "tag-key": ("Tags",),
    "tag-value": ("Tags",),
    "tenancy": ("Placement", "Tenancy"),
    "virtualization-type": ("VirtualizationType",),
    "vpc-id": ("VpcId",),
}


@dataclass(frozen=True)
class Options:
    regions: list[str]
    include_filters: list[dict[str, Any]]
    exclude_filters: list[dict[str, Any]]
    hostnames: list[Any]
    strict_permissions: bool
    tag_keys: bool
    hostvars_prefix: str
    hostvars_suffix: str
    endpoint_url: str | None
    region: str | None
    profile: str | None
    construct: Construct


def is_plugin(name: Any) -> bool:
    return name in NAMES


def load(file: YamlFile, sink: Sink, warn: Callable[[str], None]) -> None:
    """Add the hosts and groups the aws_ec2 plugin file ``file`` describes to ``sink``."""
    data = file.data
    if not str(file.path).endswith(FILE_SUFFIXES):
        raise BootstrapError("an aws_ec2 inventory file's name must end with 'aws_ec2.yml' or "
                             "'aws_ec2.yaml' (Ansible reads no other)", origin=file.origin(("plugin",)))
    refuse_unknown(file, data, "aws_ec2", SUPPORTED)
    options = _options(file, data)
    store = _cache(file, data, warn)
    instances = store.get() if store is not None else None
    if instances is None:
        instances = _query(file, options)
        if store is not None:
            store.put(instances)
    if len(instances) > limits.HOSTS:
        raise BootstrapError(f"more than {limits.HOSTS:,} instances (the limit of hosts)",
                             origin=file.origin(("plugin",)))
    sink.add_group(GROUP, ("plugin",))
    for instance in instances:
        name = preferred_hostname(instance, options.hostnames, file)
        if not name:
            continue
        if ":" in name:  # an IPv6 address: the plugin passes it through its group sanitizer
            name = options.construct.sanitize(name)
        host_vars = prepare_host_vars(instance, options)
        sink.add_host_to_group(name, GROUP, ("plugin",))
        for key, value in host_vars.items():
            sink.set_host_var(name, key, value, ("plugin",))
        options.construct.apply(sink, name, host_vars)


def _options(file: YamlFile, data: Mapping[str, Any]) -> Options:
    for name in ("regions", "filters", "include_filters", "exclude_filters", "endpoint_url",
                 "aws_endpoint_url", "region", "aws_region", "profile", "aws_profile"):
        if _templated(data.get(name)):
            raise BootstrapError(f"option {name!r} holds a Jinja template, which is not "
                                 "supported here; give the value itself",
                                 origin=file.origin((name,)))
    regions = option(file, data, "regions", list, [])
    for index, region in enumerate(regions):
        if not isinstance(region, str) or not re.fullmatch(r"[a-z0-9-]{1,40}", region):
            raise BootstrapError(f"region {region!r} is not a region name",
                                 origin=file.origin(("regions", index)))
    filters = option(file, data, "filters", dict, {})
    include = _filter_list(file, data, "include_filters")
    exclude = _filter_list(file, data, "exclude_filters")
    hostnames = option(file, data, "hostnames", list, [])
    for index, entry in enumerate(hostnames):
        if isinstance(entry, dict):
            if "name" not in entry:
                raise BootstrapError("a hostnames mapping needs a 'name'",
                                     origin=file.origin(("hostnames", index)))
            unknown = set(entry) - {"name", "prefix", "separator"}
            if unknown:
                raise BootstrapError(f"unsupported hostnames option {sorted(unknown, key=str)[0]!r}"
                                     " (supported: name, prefix, separator)",
                                     origin=file.origin(("hostnames", index)))
            for key, value in entry.items():
                if not isinstance(value, str):
                    raise BootstrapError(f"hostnames {key} must be a text",
                                         origin=file.origin(("hostnames", index, key)))
        elif not isinstance(entry, str):
            raise BootstrapError("hostnames must be a list of texts and mappings",
                                 origin=file.origin(("hostnames", index)))
    sanitize = safe_group_name
    if option(file, data, "use_contrib_script_compatible_sanitization", bool, False):
        sanitize = contrib_sanitized
    endpoint = _one_of(file, data, ("endpoint_url", "aws_endpoint_url"))
    return Options(
        regions=regions,
        include_filters=[filters, *include] if filters else (include or [{}]),
        exclude_filters=exclude,
        hostnames=hostnames,
        strict_permissions=option(file, data, "strict_permissions", bool, True),
        tag_keys=option(file, data, "use_contrib_script_compatible_ec2_tag_keys", bool, False),
        hostvars_prefix=option(file, data, "hostvars_prefix", str, ""),
        hostvars_suffix=option(file, data, "hostvars_suffix", str, ""),
        endpoint_url=endpoint,
        region=_one_of(file, data, ("region", "aws_region")),
        profile=_one_of(file, data, ("profile", "aws_profile")),
        construct=Construct.from_options(file, data, sanitize),
    )


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return False


def _one_of(file: YamlFile, data: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    given = [n for n in names if data.get(n) is not None]
    if len(given) > 1:
        raise BootstrapError(f"options {given[0]!r} and {given[1]!r} are the same option; "
                             "give one", origin=file.origin((given[1],)))
    return option(file, data, given[0], str, None) if given else None


def _filter_list(file: YamlFile, data: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    entries = option(file, data, name, list, [])
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BootstrapError(f"each of {name} must be a mapping of filters",
                                 origin=file.origin((name, index)))
    return entries


def boto3_filters(filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plugin's ansible_dict_to_boto3_filter_list."""
    out = []
    for name, value in filters.items():
        if isinstance(value, bool):
            values: Any = [str(value).lower()]
        elif isinstance(value, int | str):
            values = [str(value)]
        else:
            values = value
        out.append({"Name": name, "Values": values})
    return out


# -- asking AWS ---------------------------------------------------------------------------------


def _cache(file: YamlFile, data: Mapping[str, Any], warn: Callable[[str], None]) -> cache.Cache | None:
    if not option(file, data, "cache", bool, False):
        return None
    plugin = option(file, data, "cache_plugin", str, "jsonfile")
    if plugin not in CACHE_PLUGINS:
        raise BootstrapError(f"cache_plugin {plugin!r} is not supported (bootstrap keeps its own "
                             "cache of JSON files)", origin=file.origin(("cache_plugin",)))
    timeout = option(file, data, "cache_timeout", int, cache.DEFAULT_TIMEOUT)
    if timeout < 0:
        raise BootstrapError("cache_timeout must not be negative",
                             origin=file.origin(("cache_timeout",)))
    folder = option(file, data, "cache_connection", str, None)
    where = Path(folder).expanduser() if folder else cache.default_folder()
    if folder and not where.is_absolute():
        where = Path(file.path).parent / where
    key = cache.entry_key("aws_ec2", Path(file.path), repr(_plain(data)).encode(),
                          option(file, data, "cache_prefix", str, ""))
    return cache.Cache(where, key, timeout, _valid_instances, warn)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _valid_instances(data: Any) -> bool:
    """Whether cached data has the shape of what the query gives (anything else is a miss)."""
    return isinstance(data, list) and all(
        isinstance(i, dict) and isinstance(i.get("InstanceId"), str)
        and isinstance(i.get("Placement"), dict)
        and isinstance(i["Placement"].get("AvailabilityZone"), str)
        and isinstance(i.get("Tags", []), list)
        and all(isinstance(t, dict) and isinstance(t.get("Key"), str)
                and isinstance(t.get("Value"), str) for t in i.get("Tags", []))
        for i in data)


def _query(file: YamlFile, options: Options) -> list[dict[str, Any]]:
    """Every instance the options select, in instance id order, as JSON-ready data."""
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise BootstrapError("the aws_ec2 inventory needs boto3: pip install 'bootstrap[aws]'",
                             origin=file.origin(("plugin",))) from None
    try:
        session = boto3.session.Session(profile_name=options.profile)
    except botocore.exceptions.BotoCoreError as exc:
        raise BootstrapError(f"AWS profile: {_one_line(exc)}",
                             origin=file.origin(("profile",))) from None
    client = _clients(session, options)
    regions = options.regions or _all_regions(file, client, options.region or session.region_name)
    ignored: set[str] = set()
    out: list[dict[str, Any]] = []
    for filters in options.exclude_filters:
        for instance in _instances(file, client, regions, filters, options):
            ignored.add(instance["InstanceId"])
    for filters in options.include_filters:
        for instance in _instances(file, client, regions, filters, options):
            if instance["InstanceId"] not in ignored:
                out.append(instance)
                ignored.add(instance["InstanceId"])
    return sorted(out, key=lambda i: i["InstanceId"])


def _clients(session: Any, options: Options) -> Callable[[str], Any]:
    """The EC2 client of a region, made once: making one costs more than a small listing."""
    made: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in made:
            made[region] = session.client("ec2", region_name=region,
                                          endpoint_url=options.endpoint_url)
        return made[region]
    return client


def _all_regions(file: YamlFile, client: Callable[[str], Any], region: str | None) -> list[str]:
    region = region or "us-east-1"
    try:
        answer = client(region).describe_regions()
    except Exception as exc:
        raise BootstrapError(f"region {region}: cannot list the regions ({_aws_error(exc)}); "
                             "give them in 'regions'", origin=file.origin(("plugin",))) from None
    return [r["RegionName"] for r in answer.get("Regions", []) if isinstance(r.get("RegionName"), str)]


def _instances(file: YamlFile, client: Callable[[str], Any], regions: list[str],
               filters: Mapping[str, Any], options: Options) -> Iterator[dict[str, Any]]:
    import botocore.exceptions

    wanted = boto3_filters(filters)
    if not any(f["Name"] == "instance-state-name" for f in wanted):
        wanted.append({"Name": "instance-state-name", "Values": DEFAULT_STATES})
    for region in regions:
        try:
            pages = client(region).get_paginator("describe_instances")
            reservations = pages.paginate(Filters=wanted).build_full_result().get("Reservations", [])
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "UnauthorizedOperation" and not options.strict_permissions:
                continue
            raise _region_error(file, region, exc) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise _region_error(file, region, exc) from None
        for reservation in reservations:
            details = {"OwnerId": reservation.get("OwnerId"),
                       "RequesterId": reservation.get("RequesterId", ""),
                       "ReservationId": reservation.get("ReservationId")}
            for instance in reservation.get("Instances", []):
                yield _jsonable({**instance, **details})


def _region_error(file: YamlFile, region: str, exc: Exception) -> BootstrapError:
    return BootstrapError(f"region {region}: cannot list EC2 instances: {_aws_error(exc)}",
                          origin=file.origin(("regions",)))


def _aws_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return _one_line(f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "))
    return _one_line(exc)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())[:300]


def _jsonable(value: Any) -> Any:
    """Times as ISO 8601 text (as Ansible's JSON encoder and cache write them)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


# -- host names and variables -------------------------------------------------------------------


def tags_dict(tags: Any) -> dict[str, Any]:
    """The plugin's boto3_tag_list_to_ansible_dict."""
    if not tags or not any(tags):
        return {}
    for key, value in (("key", "value"), ("Key", "Value")):
        if key in tags[0] and value in tags[0]:
            return {tag[key]: tag[value] for tag in tags}
    return {}


def _tag_hostname(preference: str, instance: Mapping[str, Any]) -> Any:
    wanted = preference.split("tag:", 1)[1]
    single = "," not in wanted
    tags = tags_dict(instance.get("Tags", []))
    values: list[str] = []
    for item in wanted.split(","):
        if "=" in item:
            name, _, value = item.partition("=")
            if tags.get(name) == value:
                values.append(f"{name}_{value}")
        elif tags.get(item):
            values.append(str(tags[item]))
    if single and values:
        return values[0]
    return values


def _compile_values(obj: Any, attr: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, list | tuple):
        found: Any = [v for v in (_compile_values(each, attr) for each in obj) if v]
    elif isinstance(obj, dict):
        found = obj.get(attr)
    else:
        return None
    if isinstance(found, list | tuple) and len(found) == 1:
        return found[0]
    return found


def _attr_chain(name: str, instance: Mapping[str, Any]) -> Any:
    # As in the plugin, a name that is no filter name is the host name itself.
    if name not in _REFERENCE_ATTRS:
        return name
    value: Any = instance
    for attr in _REFERENCE_ATTRS[name]:
        value = _compile_values(value, attr)
    return value


def _hostname_of(instance: Mapping[str, Any], preference: str, file: YamlFile) -> Any:
    jinja_filter = None
    if "|" in preference:
        preference, jinja_filter = preference.split("|", 1)
        preference = preference.rstrip()
    if preference.startswith("tag:"):
        name = _tag_hostname(preference, instance)
    else:
        name = _attr_chain(preference, instance)
    if jinja_filter is not None:
        text = name if isinstance(name, list) else str(name)
        try:
            name = expressions.evaluate(f"__value | {jinja_filter}", {"__value": text})
        except expressions.ExpressionError as exc:
            raise BootstrapError(f"hostnames: {exc}", origin=file.origin(("hostnames",))) from None
    if isinstance(name, list):
        name = name[0] if name else None
    return name


def preferred_hostname(instance: Mapping[str, Any], hostnames: list[Any],
                       file: YamlFile) -> str | None:
    """The plugin's _get_preferred_hostname: the first preference with a value."""
    name: Any = None
    for preference in hostnames or DEFAULT_HOSTNAMES:
        if isinstance(preference, dict):
            name = preferred_hostname(instance, [preference["name"]], file)
            if "prefix" in preference:
                prefix = preferred_hostname(instance, [preference["prefix"]], file)
                if name and prefix:
                    name = f"{prefix}{preference.get('separator', '_')}{name}"
        else:
            name = _hostname_of(instance, preference, file)
        if name:
            break
    return str(name) if name else None


def prepare_host_vars(instance: Mapping[str, Any], options: Options) -> dict[str, Any]:
    """The plugin's _prepare_host_vars: snake_case attributes, tags as a mapping, the region."""
    host_vars = camel_dict_to_snake_dict(instance, ignore=("Tags",))
    host_vars["tags"] = tags_dict(instance.get("Tags", []))
    placement = host_vars.get("placement")
    if isinstance(placement, dict) and isinstance(placement.get("availability_zone"), str):
        placement["region"] = placement["availability_zone"][:-1]
    if options.tag_keys:
        for key, value in host_vars["tags"].items():
            host_vars[f"ec2_tag_{key}"] = value
    if options.hostvars_prefix or options.hostvars_suffix:
        host_vars = {f"{options.hostvars_prefix}{k}{options.hostvars_suffix}": v
                     for k, v in host_vars.items()}
    return host_vars


def camel_dict_to_snake_dict(value: Mapping[str, Any], ignore: tuple[str, ...] = ()) -> dict:
    """Ansible's camel_dict_to_snake_dict (not reversible): ``PublicDnsName`` → ``public_dns_name``."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict) and key not in ignore:
            out[camel_to_snake(key)] = camel_dict_to_snake_dict(item)
        elif isinstance(item, list) and key not in ignore:
            out[camel_to_snake(key)] = _snake_list(item)
        else:
            out[camel_to_snake(key)] = item
    return out


def _snake_list(items: list[Any]) -> list[Any]:
    return [camel_dict_to_snake_dict(i) if isinstance(i, dict)
            else _snake_list(i) if isinstance(i, list) else i for i in items]


def camel_to_snake(name: str) -> str:
    s1 = re.sub(r"[A-Z]{3,}s$", lambda m: "_" + m.group(0).lower(), name)
    if s1.startswith("_") and not name.startswith("_"):
        s1 = s1[1:]
    s2 = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", s1)
    return re.sub(r"([a-z0-9])([A-Z]+)", r"\1_\2", s2).lower()
