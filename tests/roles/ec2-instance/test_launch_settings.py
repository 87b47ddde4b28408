"""The ``aws`` namespace is checked at render time: a bad launch setting is caught before launch."""

from __future__ import annotations

import pytest
from support.cli import run_cli

HOSTS = """\
all:
  children:
    fleet:
      vars:
        bootstrap_roles: [ec2-instance]
      hosts:
        app1:
          aws:
{block}
"""


def inventory(tree, block: str):
    lines = "\n".join(" " * 12 + line for line in block.strip("\n").splitlines())
    return tree({"hosts.yml": HOSTS.format(block=lines)})


def test_a_complete_aws_block_renders(tree, tmp_path):
    inv = inventory(tree, """
ami: ami-0123456789abcdef0
region: eu-west-1
instance_type: m7g.large
subnet_id: subnet-0123abcd
security_group_ids: [sg-0123abcd]
key_name: ops
iam_role: app-instance
tags: {team: storage, cost-center: "1234"}
root_volume: {size_gb: 20}
ebs_volumes:
  - {device: /dev/sdf, size_gb: 100}
  - {device: /dev/sdg, size_gb: 100, type: st1, delete_on_termination: false}
""")
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    assert "1 hosts rendered" in result.out


@pytest.mark.parametrize(("block", "line", "key", "message"), [
    ("ami: ami-xyz\n", 9, "aws.ami", "'ami-xyz' is not a valid AMI id"),
    ("ami: ami-0123abcd\nsubnet: subnet-0123abcd\n", 10, "aws.subnet",
     "unknown key 'subnet' (did you mean 'subnet_id'?)"),
    ("ami: ami-0123abcd\ntags: {Name: other}\n", 10, "aws.tags.Name",
     "launch sets the Name tag itself"),
    ("ami: ami-0123abcd\nebs_volumes:\n  - {device: /dev/sdf, size_gb: 8}\n"
     "  - {device: /dev/xvdf, size_gb: 8}\n", 12, "aws.ebs_volumes.1.device",
     "/dev/xvdf is used by another volume"),
    ("ami: ami-0123abcd\nroot_volume: {size_gb: 0}\n", 10, "aws.root_volume.size_gb",
     "greater than or equal to 1"),
    ("instance_type: t3.micro\n", 8, "aws.ami", "is required"),
])
def test_bad_aws_settings_name_file_line_host_and_key(tree, tmp_path, block, line, key, message):
    inv = inventory(tree, block)
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 1, result.out
    assert "Traceback" not in result.err
    assert f"hosts.yml:{line}" in result.err
    assert f"host app1: key {key}: " in result.err
    assert message in result.err
    assert not (tmp_path / "build").exists()
