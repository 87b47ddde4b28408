"""``bootstrap lab`` refuses what it cannot use safely, in one line, before any machine boots:
host names that are not plain names, a missing build or user-data, links planted in its folder,
and a recorded PID that is no longer its QEMU (never signalled)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import waits
from support.cli import one_error, run_cli, write_tree

from bootstrap.lab import seed


def _tree(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*"))


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return tmp_path / "lab"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "build", {"web1/user-data": "#cloud-config\n{}\n"})


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", ".hidden", "", "x" * 64, "web 1"])
def test_a_host_name_that_is_not_one_plain_name_is_refused(
        name: str, lab: Path, build: Path, tmp_path: Path) -> None:
    before = _tree(tmp_path)
    result = run_cli("lab", "up", name, "-b", build, "--lab-dir", lab)
    one_error(result, "cannot be a lab machine's name")
    assert [p for p in _tree(tmp_path) if p not in before] in ([], ["lab"])
    assert not (lab / "machines").exists()


def test_a_missing_build_and_a_host_without_user_data_are_named(
        lab: Path, build: Path, tmp_path: Path) -> None:
    one_error(run_cli("lab", "up", "web1", "-b", tmp_path / "nowhere", "--lab-dir", lab),
              "no build there", "bootstrap render")
    one_error(run_cli("lab", "up", "db1", "-b", build, "--lab-dir", lab),
              "host db1", "has no user-data in the build")
    assert not (lab / "machines").exists()


def test_user_data_reached_through_a_link_is_refused(lab: Path, tmp_path: Path) -> None:
    secret = write_tree(tmp_path / "elsewhere", {"shadow": "not user-data\n"}) / "shadow"
    build = tmp_path / "build"
    (build / "web1").mkdir(parents=True)
    (build / "web1" / "user-data").symlink_to(secret)
    one_error(run_cli("lab", "up", "web1", "-b", build, "--lab-dir", lab), "host web1",
              "a symbolic link")


def test_a_lab_folder_that_is_a_link_is_refused_and_its_target_untouched(
        build: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "lab"
    link.symlink_to(target)
    for args in (["up", "web1", "-b", build], ["down", "--all"], ["image"]):
        one_error(run_cli("lab", *args, "--lab-dir", link), "symbolic link")
    assert list(target.iterdir()) == []


def test_a_machine_folder_that_is_a_link_is_refused(build: Path, lab: Path,
                                                     tmp_path: Path) -> None:
    target = write_tree(tmp_path / "precious", {"disk.qcow2": "keep me\n"})
    (lab / "machines").mkdir(parents=True)
    (lab / "machines" / "web1").symlink_to(target)
    one_error(run_cli("lab", "down", "web1", "--lab-dir", lab), "symbolic link")
    assert (target / "disk.qcow2").read_text() == "keep me\n"


def test_down_never_signals_a_pid_that_is_no_longer_its_qemu(lab: Path, tmp_path: Path) -> None:
    # A recorded PID now taken by another program (here a sleep this test started).
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        folder = lab / "machines" / "web1"
        folder.mkdir(parents=True)
        (folder / "machine.json").write_text(json.dumps({
            "host": "web1", "pid": other.pid, "ssh_port": 2222, "user": "root",
            "key": str(lab / "key" / "id_ed25519"), "image": "x", "accel": "tcg"}))
        (folder / "disk.qcow2").write_text("overlay\n")
        outside = write_tree(tmp_path / "outside", {"keep": "x\n"})
        (folder / "seed.iso").symlink_to(outside / "keep")  # removed as a link, never followed
        result = run_cli("lab", "down", "web1", "--lab-dir", lab)
        assert result.rc == 0, result.err
        assert f"PID {other.pid} is no longer this machine's QEMU: left alone" in result.out
        assert other.poll() is None, "the foreign process was signalled"
        assert not folder.exists()
        assert (outside / "keep").read_text() == "x\n"
    finally:
        other.kill()
        other.wait(timeout=waits.allowance(10))


def test_down_needs_hosts_or_all_and_says_when_there_is_nothing(lab: Path) -> None:
    one_error(run_cli("lab", "down", "--lab-dir", lab), "--all")
    one_error(run_cli("lab", "down", "web1", "--all", "--lab-dir", lab), "--all")
    result = run_cli("lab", "down", "--all", "--lab-dir", lab)
    assert (result.rc, result.out) == (0, "no lab machine\n"), result
    result = run_cli("lab", "down", "ghost", "--lab-dir", lab)
    assert result.rc == 0 and "ghost: not in the lab" in result.err


@pytest.mark.parametrize("name", ["/dev/../etc/passwd", "/etc/passwd", "/dev/vdc", "/dev/",
                                  "/dev/a b", "nvme1n1", "/dev/x/./y"])
def test_a_disk_name_that_is_not_a_device_path_is_refused(
        name: str, lab: Path, build: Path) -> None:
    one_error(run_cli("lab", "up", "web1", "-b", build, "--disk", name, "--lab-dir", lab),
              "--disk")
    assert not (lab / "machines").exists()


def test_disks_from_the_settings_need_the_host_in_the_inventory_and_lab_usable_names(
        lab: Path, tmp_path: Path) -> None:
    inventory = write_tree(tmp_path / "inventory", {"hosts.yml": """
        all:
          hosts:
            web1:
              bootstrap_roles: [cloud-init]
              cloud_init: {raid1: {devices: [/dev/vdb, /dev/vdc], mount: /data}}
        """})
    build = write_tree(tmp_path / "build", {"web1/user-data": "#cloud-config\n{}\n",
                                            "web2/user-data": "#cloud-config\n{}\n"})
    one_error(run_cli("lab", "up", "web2", "-b", build, "-i", inventory, "--lab-dir", lab),
              "not in the inventory", "web2")
    one_error(run_cli("lab", "up", "web1", "-b", build, "-i", inventory, "--lab-dir", lab),
              "host web1", "the settings name the disk /dev/vdb", "--disk")
    assert not (lab / "machines").exists()


def test_out_of_range_options_are_usage_errors(lab: Path, build: Path) -> None:
    for option in (["--memory", "64"], ["--disks", "9"], ["--disks", "-1"]):
        result = run_cli("lab", "up", "web1", "-b", build, "--lab-dir", lab, *option)
        assert result.rc == 2 and option[0] in result.err, result


def test_without_qemu_the_command_says_which_package_to_install(
        lab: Path, build: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A PATH with Python's folder only: no QEMU on it.
    result = run_cli("lab", "up", "web1", "-b", build, "--lab-dir", lab,
                     env={"PATH": str(bin_dir)})
    one_error(result, "qemu-system-x86_64 is not installed", "qemu-system-x86")


def test_the_seed_holds_the_user_data_byte_for_byte_and_a_quoted_meta_data(
        tmp_path: Path) -> None:
    if not shutil.which("isoinfo"):
        pytest.skip("isoinfo (genisoimage) is not installed")
    data = b"\x1f\x8b\x08\x00" + os.urandom(300)  # gzip user-data stays gzip
    meta = seed.meta_data("web1", "web1: #1")
    seed.write_iso(tmp_path / "seed.iso", {"user-data": data, "meta-data": meta})

    def extract(name: str) -> bytes:
        return subprocess.run(["isoinfo", "-i", str(tmp_path / "seed.iso"), "-R", "-x",
                               f"/{name}"], capture_output=True, check=True).stdout

    assert extract("user-data") == data
    assert json.loads(extract("meta-data")) == {"instance-id": "web1: #1",
                                                "local-hostname": "web1"}
    volume = subprocess.run(["isoinfo", "-d", "-i", str(tmp_path / "seed.iso")],
                            capture_output=True, text=True, check=True).stdout
    assert "Volume id: cidata" in volume
    assert oct(os.stat(tmp_path / "seed.iso").st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["seed.iso"]  # no temporary left


@pytest.mark.parametrize("record", ['{"host": "web1", "pid": "1; reboot"}', "not json",
                                    '{"host": "other", "pid": 1234, "ssh_port": 22, "user": "r",'
                                    ' "key": "k", "image": "i", "accel": "tcg"}', "[]"])
def test_a_damaged_record_stops_nothing_and_is_cleaned_away(record: str, lab: Path) -> None:
    folder = lab / "machines" / "web1"
    folder.mkdir(parents=True)
    (folder / "machine.json").write_text(record)
    result = run_cli("lab", "down", "web1", "--lab-dir", lab)
    assert result.rc == 0 and "web1: no machine was running" in result.out, result
    assert not folder.exists()


def test_images_of_earlier_recipes_go_unless_a_machine_boots_from_them(lab: Path,
                                                                       tmp_path: Path) -> None:
    from bootstrap.lab import image

    current = f"debian-12-{image.digest('debian-12')}"
    parts = {"base.raw": "disk\n", "vmlinuz": "kernel\n", "initrd.img": "initrd\n"}
    for name in (current, "debian-12-0123456789abcdef", "debian-12-fedcba9876543210"):
        write_tree(lab / "images" / name, parts)
    outside = write_tree(tmp_path / "outside", {"debian-12-1111111111111111/base.raw": "x\n"})
    (lab / "images" / "debian-12-1111111111111111").symlink_to(
        outside / "debian-12-1111111111111111")  # a link is never followed, nor removed
    write_tree(lab / "images" / "notes", {"keep.txt": "mine\n"})
    # A machine still boots from one of them (its overlay needs it).
    write_tree(lab / "machines" / "web1", {"machine.json": json.dumps({
        "host": "web1", "pid": 999999, "ssh_port": 2222, "user": "root",
        "key": str(lab / "key" / "id_ed25519"), "image": "debian-12-fedcba9876543210",
        "accel": "tcg"}), "disk.qcow2": "overlay\n"})
    os.chmod(lab, 0o700)
    result = run_cli("lab", "image", "--lab-dir", lab)
    assert result.rc == 0, result.err
    assert "removed image debian-12-0123456789abcdef: an earlier recipe" in result.out
    assert f"image {current} is already built" in result.out
    assert sorted(os.listdir(lab / "images")) == sorted([
        current, "debian-12-1111111111111111", "debian-12-fedcba9876543210", "notes"])
    assert (outside / "debian-12-1111111111111111" / "base.raw").read_text() == "x\n"
    # A machine whose record cannot be read might boot from any: then none is removed.
    (lab / "machines" / "web1" / "machine.json").write_text("{not json")
    write_tree(lab / "images" / "debian-12-0123456789abcdef", parts)
    assert run_cli("lab", "image", "--lab-dir", lab).rc == 0
    assert (lab / "images" / "debian-12-0123456789abcdef" / "base.raw").exists()
