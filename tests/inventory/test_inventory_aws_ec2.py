"""``plugin: amazon.aws.aws_ec2`` and ``plugin: constructed`` inventory files.

moto in server mode holds tagged instances in two regions. Each differential case is resolved by
``ansible-inventory --list`` with the amazon.aws collection (from the ``ansible`` package of
requirements/pip-inventory.txt) and by ``bootstrap inventory --list``: groups and
``_meta.hostvars`` must be equal. Errors, the cache and ``--refresh-inventory`` are bootstrap's
own, checked with a proxy that records (and can refuse) every EC2 request.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ansible
from support.cli import one_error, run_cli, write_tree
from support.moto import FAKE_CREDENTIALS, FaultProxy, MotoServer, admin_client, free_port

PLUGINS = "amazon.aws.aws_ec2,constructed,yaml"
REGIONS = ("eu-west-1", "us-east-1")
# (region, Name tag or None, other tags, state after launch)
INSTANCES: list[tuple[str, str | None, dict[str, str], str]] = [
    ("eu-west-1", "web-1", {"Role": "web", "Env": "prod", "Team": "blue/ops"}, "running"),
    ("eu-west-1", "db-1", {"Role": "db", "Env": "prod"}, "running"),
    ("eu-west-1", "batch-1", {"Role": "batch", "Env": "dev"}, "stopped"),
    ("eu-west-1", None, {"Role": "web", "Env": "dev"}, "running"),
    ("us-east-1", "web-2", {"Role": "web", "Env": "dev", "Team": "red team"}, "running"),
    ("us-east-1", "gone-1", {"Role": "web"}, "terminated"),
]


@pytest.fixture(scope="module")
def ec2(moto: MotoServer) -> Iterator[MotoServer]:
    """moto holding INSTANCES (once for the module: the cases only read them)."""
    moto.reset()
    for region, name, tags, state in INSTANCES:
        client = admin_client("ec2", moto.url, region)
        image = client.describe_images()["Images"][0]["ImageId"]
        all_tags = {**({"Name": name} if name else {}), **tags}
        [instance] = client.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [
                {"Key": k, "Value": v} for k, v in all_tags.items()]}])["Instances"]
        if state == "stopped":
            client.stop_instances(InstanceIds=[instance["InstanceId"]])
        elif state == "terminated":
            client.terminate_instances(InstanceIds=[instance["InstanceId"]])
    yield moto


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Fake credentials for both tools (ansible-inventory inherits the environment), and a
    cache folder of the test's own."""
    for key, value in FAKE_CREDENTIALS.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return {k: v for k, v in FAKE_CREDENTIALS.items() if v is not None}


def plugin_file(endpoint: str | None, **options: Any) -> str:
    doc: dict[str, Any] = {"plugin": "amazon.aws.aws_ec2", "regions": list(REGIONS)}
    if endpoint:
        doc["endpoint_url"] = endpoint
    doc.update(options)
    return yaml.safe_dump(doc, sort_keys=False)


def unwrapped(value: Any) -> Any:
    """ansible-inventory's JSON marks text from outside the inventory file as
    ``{"__ansible_unsafe": TEXT}``; the value is the text."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrapped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrapped(v) for v in value]
    return value


def ours(source: Path, *args: str, env: dict[str, str | None] | None = None) -> dict[str, Any]:
    result = run_cli("inventory", source, "--list", *args, env=env)
    assert result.rc == 0 and "Traceback" not in result.err, result.err
    return json.loads(result.out)


def same_as_ansible(source: Path) -> dict[str, Any]:
    theirs = unwrapped(ansible.inventory_list(source, plugins=PLUGINS))
    mine = ours(source)
    assert mine["_meta"]["hostvars"] == theirs["_meta"]["hostvars"]
    assert membership(mine) == membership(theirs)
    return mine


def membership(listing: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Each group's hosts and children, in no particular order."""
    return {name: (sorted(body.get("hosts", [])), sorted(body.get("children", [])))
            for name, body in listing.items() if name != "_meta"}


def hosts_of(listing: dict[str, Any], group: str) -> list[str]:
    return sorted(listing.get(group, {}).get("hosts", []))


# -- differential: Ansible's own plugin and bootstrap on the same files -------------------------


def test_tags_keyed_groups_groups_and_compose_are_ansibles(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"inv/demo.aws_ec2.yml": plugin_file(
        ec2.url,
        hostnames=["tag:Name", "instance-id"],
        keyed_groups=[
            {"key": "tags.Role", "prefix": "role"},
            {"key": "placement.region", "prefix": "aws_region", "parent_group": "regions"},
            {"key": "tags", "prefix": "tag"},
            {"key": "tags.Team", "separator": ""},
            {"key": "tags.Missing", "prefix": "never"},
            {"key": "instance_type", "prefix": "type", "separator": "-"},
            {"key": "security_groups | map(attribute='group_name') | list", "prefix": "sg"},
        ],
        groups={
            "webs": "tags.Role == 'web'",
            "prod": "tags.Env | default('') == 'prod'",
            "stopped": "state.name == 'stopped'",
            "broken": "tags.Missing == 'x'",
        },
        compose={
            "ansible_host": "private_ip_address",
            "shout": "tags.Name | default('nameless') | upper",
            "az": "placement.availability_zone",
            "name_parts": "(tags.Name | default('a-b')).split('-')",
            "skipped": "tags.Missing",
        },
    )}) / "inv" / "demo.aws_ec2.yml"
    listing = same_as_ansible(inv)
    names = {"web-1", "db-1", "batch-1", "web-2"}
    assert names < set(listing["_meta"]["hostvars"])
    assert "gone-1" not in listing["_meta"]["hostvars"]  # terminated: not a default state
    nameless = [h for h in listing["_meta"]["hostvars"] if h.startswith("i-")]
    assert len(nameless) == 1  # no Name tag: named by its instance id
    assert hosts_of(listing, "role_web") == sorted(["web-1", "web-2", *nameless])
    assert hosts_of(listing, "stopped") == ["batch-1"]
    assert sorted(listing["regions"]["children"]) == ["aws_region_eu_west_1", "aws_region_us_east_1"]
    assert hosts_of(listing, "tag_Team_blue_ops") == ["web-1"]  # '/' made safe
    assert "never_" not in "".join(listing)
    web1 = listing["_meta"]["hostvars"]["web-1"]
    assert web1["tags"] == {"Name": "web-1", "Role": "web", "Env": "prod", "Team": "blue/ops"}
    assert web1["ansible_host"] == web1["private_ip_address"]
    assert web1["shout"] == "WEB-1" and web1["name_parts"] == ["web", "1"]
    assert web1["placement"]["region"] == "eu-west-1" and "skipped" not in web1


@pytest.mark.parametrize("hostnames", [
    ["private-ip-address"],
    ["dns-name"],
    ["instance-id"],
    [],  # the plugin's default: dns-name, then private-dns-name
    ["tag:Missing", "tag:Name"],
    ["tag:Name=web-1", "tag:Env,Role"],
    [{"name": "tag:Name", "prefix": "tag:Role", "separator": "-"}, "instance-id"],
    [{"name": "instance-id", "prefix": "placement.region"}],
    ["tag:Name | upper", "private-ip-address"],
], ids=["private-ip", "dns-name", "instance-id", "default", "first-tag-present", "tag-value",
        "prefix-separator", "prefix-not-a-filter", "jinja-filter"])
def test_hostnames_are_ansibles(tmp_path, ec2, aws_env, hostnames):
    inv = write_tree(tmp_path, {"x.aws_ec2.yaml": plugin_file(
        ec2.url, hostnames=hostnames, keyed_groups=[{"key": "tags.Role"}])}) / "x.aws_ec2.yaml"
    listing = same_as_ansible(inv)
    # Instances that get the same name are one host (tag:Env,Role gives 'dev' to three).
    assert len(listing["_meta"]["hostvars"]) >= 3


def test_filters_include_and_exclude_filters_are_ansibles(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"sel.aws_ec2.yml": plugin_file(
        ec2.url, hostnames=["tag:Name", "instance-id"],
        filters={"tag:Env": "prod"},
        include_filters=[{"tag:Role": ["batch"]}, {"tag:Name": "web-2"}],
        exclude_filters=[{"tag:Name": "db-1"}],
    )}) / "sel.aws_ec2.yml"
    listing = same_as_ansible(inv)
    assert hosts_of(listing, "aws_ec2") == ["batch-1", "web-1", "web-2"]


def test_without_regions_every_region_describe_regions_lists_is_asked(tmp_path, ec2, aws_env):
    text = yaml.safe_dump({"plugin": "amazon.aws.aws_ec2", "endpoint_url": ec2.url,
                           "hostnames": ["tag:Name"]})
    inv = write_tree(tmp_path, {"all.aws_ec2.yml": text}) / "all.aws_ec2.yml"
    listing = same_as_ansible(inv)
    assert hosts_of(listing, "aws_ec2") == ["batch-1", "db-1", "web-1", "web-2"]


def test_a_filter_naming_the_state_replaces_the_default_states(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"s.aws_ec2.yml": plugin_file(
        ec2.url, hostnames=["tag:Name"], filters={"instance-state-name": ["terminated"]},
    )}) / "s.aws_ec2.yml"
    assert hosts_of(same_as_ansible(inv), "aws_ec2") == ["gone-1"]


def test_contrib_script_sanitization_keeps_dashes_as_ansible_does(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"c.aws_ec2.yml": plugin_file(
        ec2.url, hostnames=["tag:Name"], use_contrib_script_compatible_sanitization=True,
        keyed_groups=[{"key": "placement.region", "prefix": "region"},
                      {"key": "tags.Team", "prefix": "team"}],
    )}) / "c.aws_ec2.yml"
    listing = same_as_ansible(inv)
    assert hosts_of(listing, "region_eu-west-1") == ["batch-1", "db-1", "web-1"]
    assert hosts_of(listing, "team_red_team") == ["web-2"]


def test_hostvars_prefix_suffix_and_contrib_tag_keys_are_ansibles(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"p.aws_ec2.yml": plugin_file(
        ec2.url, hostnames=["tag:Name"], hostvars_prefix="ec2_", hostvars_suffix="_x",
        use_contrib_script_compatible_ec2_tag_keys=True,
        compose={"ansible_host": "ec2_private_ip_address_x"},
        keyed_groups=[{"key": "ec2_tags_x.Role", "prefix": "role"}],
    )}) / "p.aws_ec2.yml"
    listing = same_as_ansible(inv)
    web1 = listing["_meta"]["hostvars"]["web-1"]
    assert web1["ec2_ec2_tag_Role_x"] == "web" and web1["ansible_host"]
    assert "instance_id" not in web1 and "ec2_instance_id_x" in web1
    assert hosts_of(listing, "role_db") == ["db-1"]


def test_endpoint_from_aws_endpoint_url_and_the_alias_option(tmp_path, ec2, aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", ec2.url)
    inv = write_tree(tmp_path, {"e.aws_ec2.yml": plugin_file(
        None, hostnames=["tag:Name"])}) / "e.aws_ec2.yml"
    listing = same_as_ansible(inv)
    assert "web-2" in listing["_meta"]["hostvars"]
    # The plugin's short name, which the collection's plugin no longer accepts, reads the same.
    short = write_tree(tmp_path, {"s.aws_ec2.yml": plugin_file(
        None, plugin="aws_ec2", hostnames=["tag:Name"])}) / "s.aws_ec2.yml"
    assert ours(short) == listing
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    alias = write_tree(tmp_path, {"a.aws_ec2.yml": plugin_file(
        None, aws_endpoint_url=ec2.url, hostnames=["tag:Name"])}) / "a.aws_ec2.yml"
    assert "web-2" in same_as_ansible(alias)["_meta"]["hostvars"]


def test_constructed_and_group_and_host_vars_over_static_and_dynamic_hosts(tmp_path, ec2,
                                                                             aws_env):
    # Ansible reads a folder's files in name order: constructed comes last, over the others.
    inv = write_tree(tmp_path / "inv", {
        "10-static.yml": """
            all:
              children:
                onprem:
                  vars: {site: dc1, Role: legacy}
                  hosts:
                    bastion.example.com: {Env: prod, ansible_host: 192.0.2.10}
            """,
        "20-fleet.aws_ec2.yml": plugin_file(
            ec2.url, hostnames=["tag:Name"],
            keyed_groups=[{"key": "tags.Role", "prefix": "role"}],
            compose={"Env": "tags.Env | default('none')", "Role": "tags.Role"}),
        "30-groups.yml": yaml.safe_dump({
            "plugin": "constructed",
            "strict": False,
            "compose": {"env_upper": "Env | upper", "where": "site | default('cloud')",
                        "short": "inventory_hostname_short"},
            "groups": {"production": "Env == 'prod'", "in_dc": "'onprem' in group_names"},
            "keyed_groups": [{"key": "Role", "prefix": "kind"},
                             {"key": "where", "prefix": "site", "parent_group": "sites"}],
        }),
        "group_vars/aws_ec2.yml": "ssh_user: admin\nfrom_group_vars: aws\n",
        "group_vars/role_web.yml": "http_port: 8080\nfrom_group_vars: web\n",
        "group_vars/production.yml": "backup: true\n",
        "host_vars/web-1.yml": "http_port: 9090\n",
        "host_vars/bastion.example.com.yml": "from_host_vars: yes\n",
    })
    listing = same_as_ansible(inv)
    hostvars = listing["_meta"]["hostvars"]
    assert hosts_of(listing, "production") == ["bastion.example.com", "db-1", "web-1"]
    assert hosts_of(listing, "in_dc") == ["bastion.example.com"]
    assert hosts_of(listing, "kind_legacy") == ["bastion.example.com"]
    assert sorted(listing["sites"]["children"]) == ["site_cloud", "site_dc1"]
    assert hostvars["web-1"]["http_port"] == 9090 and hostvars["web-2"]["http_port"] == 8080
    assert hostvars["web-2"]["from_group_vars"] == "web" and hostvars["db-1"]["backup"] is True
    assert hostvars["web-1"]["env_upper"] == "PROD" and hostvars["web-1"]["short"] == "web-1"


# -- bootstrap's own checks: errors -------------------------------------------------------------


@pytest.mark.parametrize(("options", "key", "words"), [
    ({"use_ssm_inventory": True}, "use_ssm_inventory",
     ["aws_ec2 option 'use_ssm_inventory' is not supported"]),
    ({"assume_role_arn": "arn:aws:iam::123456789012:role/x"}, "assume_role_arn",
     ["'assume_role_arn' is not supported"]),
    ({"keyed_groups": [{"key": "tags.Role", "prefx": "r"}]}, "prefx",
     ["unsupported keyed group option 'prefx'"]),
    ({"hostnames": [{"prefix": "tag:Role"}]}, "prefix", ["needs a 'name'"]),
    ({"hostnames": [{"name": 5}]}, "name", ["hostnames name must be a text"]),
    ({"hostnames": [["tag:Name"]]}, "- tag:Name", ["a list of texts and mappings"]),
    ({"plugin": None}, "plugin", ["inventory plugin None is not supported"]),
    ({"cache": True, "cache_timeout": True}, "cache_timeout", ["must be a number"]),
    ({"compose": "x"}, "compose", ["option 'compose' must be a mapping"]),
    ({"regions": "eu-west-1"}, "regions", ["option 'regions' must be a list"]),
    ({"regions": ["{{ lookup('env', 'R') }}"]}, "regions", ["Jinja template"]),
    ({"cache": True, "cache_plugin": "redis"}, "cache_plugin", ["cache_plugin 'redis'"]),
    ({"compose": {"x": "tags.Missing"}, "strict": True}, "x",
     ["compose x:", "Missing", "host "]),
    ({"groups": {"g": "tags.Role"}, "strict": True}, "g", ["a condition must give true or false"]),
])
def test_bad_options_are_one_error_naming_the_file_line(tmp_path, ec2, aws_env, options, key,
                                                         words):
    text = plugin_file(ec2.url, **{"hostnames": ["tag:Name"], **options})
    inv = write_tree(tmp_path, {"bad.aws_ec2.yml": text}) / "bad.aws_ec2.yml"
    line = next(n for n, t in enumerate(text.splitlines(), 1)
                if re.match(rf"\s*(- )?{re.escape(key)}(:|$)", t))
    error = one_error(run_cli("inventory", inv, "--list", cwd=tmp_path), *words)
    assert error.startswith(f"error: bad.aws_ec2.yml:{line}: "), error


def test_a_plugin_file_ansible_would_not_read_and_an_unknown_plugin_are_errors(tmp_path,
                                                                             aws_env):
    inv = write_tree(tmp_path, {"fleet.yml": "plugin: amazon.aws.aws_ec2\n",
                                "other.yml": "# another plugin\nplugin: community.general.nmap\n"})
    assert one_error(run_cli("inventory", inv / "fleet.yml", cwd=tmp_path)) == (
        "error: fleet.yml:1: an aws_ec2 inventory file's name must end with 'aws_ec2.yml' or "
        "'aws_ec2.yaml' (Ansible reads no other)")
    assert one_error(run_cli("inventory", inv / "other.yml", cwd=tmp_path)).startswith(
        "error: other.yml:2: inventory plugin 'community.general.nmap' is not supported")


@pytest.fixture
def proxy(ec2: MotoServer) -> Iterator[FaultProxy]:
    found = FaultProxy(ec2.url)
    yield found
    found.stop()


@pytest.mark.parametrize(("code", "status", "words"), [
    ("UnauthorizedOperation", 403, ["region us-east-1", "UnauthorizedOperation"]),
    ("AuthFailure", 401, ["region us-east-1", "AuthFailure"]),
    ("RequestLimitExceeded", 503, ["region us-east-1", "RequestLimitExceeded"]),
])
def test_aws_refusing_is_one_line_naming_the_file_and_region(tmp_path, aws_env, proxy, code,
                                                              status, words):
    inv = write_tree(tmp_path, {"f.aws_ec2.yml": plugin_file(proxy.url, hostnames=["tag:Name"],
                                                           regions=["us-east-1"])})
    # The first region answers; the second is refused (every retry too).
    proxy.fail("DescribeInstances", code, "no, not you", status=status, times=100)
    result = run_cli("inventory", inv / "f.aws_ec2.yml", cwd=tmp_path,
                     env={"AWS_MAX_ATTEMPTS": "2"})
    error = one_error(result, *words)
    assert error.startswith("error: f.aws_ec2.yml:2: region us-east-1: cannot list EC2 "), error


def test_an_unreachable_endpoint_is_one_line_naming_the_region(tmp_path, aws_env):
    url = f"http://127.0.0.1:{free_port()}"
    inv = write_tree(tmp_path, {"f.aws_ec2.yml": plugin_file(url, hostnames=["tag:Name"])})
    result = run_cli("inventory", inv / "f.aws_ec2.yml", cwd=tmp_path,
                     env={"AWS_MAX_ATTEMPTS": "1"})
    one_error(result, "f.aws_ec2.yml:2: region eu-west-1: cannot list EC2 instances",
              "Could not connect")


def test_strict_permissions_false_skips_a_denied_region(tmp_path, aws_env, proxy):
    inv = write_tree(tmp_path, {"f.aws_ec2.yml": plugin_file(
        proxy.url, hostnames=["tag:Name"], strict_permissions=False)})
    proxy.fail("DescribeInstances", "UnauthorizedOperation", "denied", status=403)
    listing = ours(inv / "f.aws_ec2.yml")
    assert hosts_of(listing, "aws_ec2") == ["web-2"]  # eu-west-1, asked first, was denied


def test_without_strict_a_failing_expression_skips_its_entry(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"f.aws_ec2.yml": plugin_file(
        ec2.url, hostnames=["tag:Name"], compose={"x": "tags.Team", "y": "1 +"},
        groups={"g": "tags.Team is defined", "h": "tags.Team"},
        keyed_groups=[{"key": "tags.Team.nope"}])})
    listing = ours(inv / "f.aws_ec2.yml")
    assert listing["_meta"]["hostvars"]["web-2"]["x"] == "red team"
    assert "x" not in listing["_meta"]["hostvars"]["db-1"]
    assert "y" not in listing["_meta"]["hostvars"]["web-2"]
    assert hosts_of(listing, "g") == ["web-1", "web-2"] and "h" not in listing


def test_expressions_cannot_reach_python_internals(tmp_path, ec2, aws_env):
    inv = write_tree(tmp_path, {"f.aws_ec2.yml": plugin_file(
        ec2.url, hostnames=["tag:Name"], strict=True,
        compose={"x": "tags.__class__.__mro__[1].__subclasses__()"})})
    one_error(run_cli("inventory", inv / "f.aws_ec2.yml", cwd=tmp_path), "compose x:", "unsafe")


# -- the cache ----------------------------------------------------------------------------------


def cached_file(tmp_path: Path, proxy: FaultProxy, **options: Any) -> Path:
    return write_tree(tmp_path, {"c.aws_ec2.yml": plugin_file(
        proxy.url, hostnames=["tag:Name"], cache=True, **options)}) / "c.aws_ec2.yml"


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def test_the_cache_spares_the_listing_until_refreshed_or_stale(tmp_path, aws_env, proxy):
    inv = cached_file(tmp_path, proxy, cache_timeout=600)
    first = ours(inv)
    assert proxy.count("DescribeInstances") == 2
    folder = tmp_path / "xdg-cache" / "bootstrap" / "inventory"
    [entry] = entries(folder)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert ours(inv) == first and proxy.count("DescribeInstances") == 2
    assert ours(inv, "--refresh-inventory") == first and proxy.count("DescribeInstances") == 4
    # Older than cache_timeout: listed again.
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps({**data, "written": data["written"] - 601}))
    assert ours(inv) == first and proxy.count("DescribeInstances") == 6
    # Other options are another entry.
    ours(cached_file(tmp_path, proxy, cache_timeout=600, compose={"a": "1"}))
    assert proxy.count("DescribeInstances") == 8 and len(entries(folder)) == 2


@pytest.mark.parametrize("content", [
    "", "{", "null", "[]", '{"format": 1, "written": 1e300, "data": []}',
    '{"format": 1, "written": "now", "data": []}',
    '{"format": 1, "written": 0, "data": [{"InstanceId": 5}]}',
    '{"format": 1, "written": 0, "data": [{"InstanceId": "i-1", "Placement": '
    '{"AvailabilityZone": "eu-west-1a"}, "Tags": [{"Key": "Name"}]}]}',
    '{"format": 2, "written": 0, "data": []}',
    "\udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
    '{"format": 1, "written": 0, "data": {"aws_ec2": []}}',
])
def test_a_corrupt_cache_entry_is_a_miss(tmp_path, aws_env, proxy, content):
    inv = cached_file(tmp_path, proxy)
    first = ours(inv)
    [entry] = entries(tmp_path / "xdg-cache" / "bootstrap" / "inventory")
    # "written": 0 stands for now, so that only the shape can make the entry a miss.
    entry.write_text(content.replace('"written": 0', f'"written": {time.time()}'),
                     encoding="latin-1")
    assert ours(inv) == first and proxy.count("DescribeInstances") == 4
    assert json.loads(entry.read_text())["format"] == 1  # rewritten whole


def test_a_link_at_the_cache_entry_is_neither_followed_nor_written_through(tmp_path, aws_env,
                                                                          proxy):
    inv = cached_file(tmp_path, proxy, cache_connection=str(tmp_path / "cache"))
    ours(inv)
    [entry] = entries(tmp_path / "cache")
    target = tmp_path / "elsewhere.json"
    target.write_text(entry.read_text())
    entry.unlink()
    entry.symlink_to(target)
    before = target.read_text()
    ours(inv)
    assert proxy.count("DescribeInstances") == 4  # the link was not read
    assert target.read_text() == before and not entry.is_symlink()


def test_a_cache_folder_that_is_a_link_or_shared_is_not_written(tmp_path, aws_env, proxy):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "cache").symlink_to(real)
    inv = cached_file(tmp_path, proxy, cache_connection="cache")
    result = run_cli("inventory", inv, "--list")
    assert result.rc == 0 and "inventory cache not written" in result.err
    assert list(real.iterdir()) == []
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    inv = cached_file(tmp_path, proxy, cache_connection=str(shared))
    result = run_cli("inventory", inv, "--list")
    assert result.rc == 0 and "writable by other users" in result.err
    assert list(shared.iterdir()) == []


def test_a_well_formed_fresh_entry_is_used_as_it_is(tmp_path, aws_env, proxy):
    inv = cached_file(tmp_path, proxy)
    ours(inv)
    [entry] = entries(tmp_path / "xdg-cache" / "bootstrap" / "inventory")
    entry.write_text(json.dumps({"format": 1, "written": time.time(), "data": []}))
    listing = ours(inv)
    assert proxy.count("DescribeInstances") == 2 and "aws_ec2" not in listing


def test_render_builds_dynamic_hosts_with_their_group_vars_and_honours_refresh(tmp_path, aws_env,
                                                                             proxy):
    inv = write_tree(tmp_path / "inv", {
        "fleet.aws_ec2.yml": plugin_file(proxy.url, hostnames=["tag:Name"], cache=True,
                                         filters={"tag:Role": "web"},
                                         keyed_groups=[{"key": "tags.Env", "prefix": "env"}]),
        "group_vars/aws_ec2.yml": "bootstrap_roles: [app]\n",
        "group_vars/env_prod.yml": "greeting: hello prod\n",
        "group_vars/all.yml": "greeting: hello\n",
        "roles/app/role.yml": "artifacts:\n  - {template: app.conf.j2, dest: /etc/app.conf}\n",
        "templates/app.conf.j2": "{{ vars.greeting }} from {{ vars.placement.region }}\n",
    })
    build = tmp_path / "build"
    result = run_cli("render", inv, "-o", build)
    assert result.rc == 0, result.err
    assert (build / "web-1/files/etc/app.conf").read_text() == "hello prod from eu-west-1\n"
    assert (build / "web-2/files/etc/app.conf").read_text() == "hello from us-east-1\n"
    assert proxy.count("DescribeInstances") == 2
    assert run_cli("render", inv, "-o", build).rc == 0
    assert proxy.count("DescribeInstances") == 2  # from the cache
    result = run_cli("render", inv, "-o", build, "--refresh-inventory")
    assert result.rc == 0, result.err
    assert proxy.count("DescribeInstances") == 4
