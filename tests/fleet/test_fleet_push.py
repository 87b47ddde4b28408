"""bootstrap push and verify against real sshd hosts in containers, and under faults.

The tests share one fleet and run in file order: the first push brings every host to the
build; the later ones start from there, break something, and check what a user sees.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from fleet_site import HOSTS, TOKEN, Site
from support import waits
from support.cli import run_cli, write_tree


def rows(out: str) -> dict[str, str]:
    """Host -> its RESULT cell in push's table."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"^(\S+)\s+\d+\.\d\d s\s+(.*)$", line)
        if match:
            found[match[1]] = match[2].strip()
    return found


def test_clean_push_installs_every_file_then_verify_is_green(site: Site, tmp_path: Path) -> None:
    pushed = site.push("--json", tmp_path / "push.json")
    assert pushed.rc == 0, pushed.out + pushed.err
    result = rows(pushed.out)
    assert result["web1"] == "changed 4 files"
    assert result["web2"] == "changed 5 files"  # with the blob
    assert result["web3"] == "changed 4 files"
    assert "4 hosts: 4 changed, 0 unchanged, 0 failed" in pushed.out
    report = json.loads((tmp_path / "push.json").read_text())
    assert report["hosts"]["db1"]["changed"] == [
        "/etc/motd", "/etc/bootstrap/host.json", "/etc/app/app.conf", "/etc/app/token.env"]

    # What a user would check on a host: modes, owners, content; web3 logged in as deploy.
    for host in HOSTS:
        listing = site.on(host, "stat -c '%a %U:%G %n' /etc/motd /etc/app/token.env")
        assert listing.splitlines() == ["644 root:root /etc/motd", "600 root:root /etc/app/token.env"]
        assert site.on(host, "cat /etc/app/token.env") == f"TOKEN={TOKEN}\n"
    logins = subprocess.run(["docker", "logs", site.nodes["web3"].container], capture_output=True,
                            text=True).stderr
    assert "Accepted publickey for deploy" in logins and "for root" not in logins

    verified = site.verify("--json", tmp_path / "verify.json", "--junit", tmp_path / "junit.xml")
    assert verified.rc == 0, verified.out
    assert ("4 hosts (4 ok, 0 not ok), 36 checks: 32 passed, 0 failed, 0 errors, 4 skipped"
            in verified.out)
    assert re.search(r"^web3\s+app::test_files_belong_to_root\[/etc/app/token\.env\]\s+ok$",
                     verified.out, re.M)
    assert re.search(r"^web3\s+app::test_service_is_running\s+skipped\s+no service manager on "
                     r"this host$", verified.out, re.M)
    for text in (pushed.out, pushed.err, verified.out, verified.err,
                 (tmp_path / "push.json").read_text(), (tmp_path / "verify.json").read_text()):
        assert TOKEN not in text
    junit = (tmp_path / "junit.xml").read_text()
    assert ('<testsuites name="bootstrap verify" tests="36" failures="0" errors="0" skipped="4"'
            in junit)


def test_second_push_changes_nothing(site: Site) -> None:
    before = site.on("db1", "stat -c %Y /etc/motd")
    pushed = site.push()
    assert pushed.rc == 0, pushed.out
    assert set(rows(pushed.out).values()) == {"unchanged"}
    assert site.on("db1", "stat -c %Y /etc/motd") == before


def test_apply_runs_once_where_a_role_changed(site: Site) -> None:
    # The first push changed app's files everywhere; without --apply that is still pending.
    applied = site.push("--apply")
    assert applied.rc == 0, applied.out
    assert set(rows(applied.out).values()) == {"unchanged, applied app"}
    again = site.push("--apply")
    assert set(rows(again.out).values()) == {"unchanged"}

    site.on("web1", "echo 'port = 1' > /etc/app/app.conf")
    repaired = site.push("--apply")
    result = rows(repaired.out)
    assert result["web1"] == "changed 1 file, applied app"
    assert result["db1"] == "unchanged"
    assert site.on("web1", "cat /var/lib/app/apply.log") == "applied\napplied\n"
    assert site.on("db1", "cat /var/lib/app/apply.log") == "applied\n"


def test_verify_names_a_drift_and_push_repairs_it(site: Site) -> None:
    site.on("db1", "echo 'edited by hand' >> /etc/motd; chmod 0640 /etc/bootstrap/host.json; "
                   "chown nobody /etc/app/app.conf")
    verified = site.verify()
    assert verified.rc == 1
    assert "3 of 4 managed files differ from the build:" in verified.out
    assert re.search(r"/etc/motd: content differs \(sha256 \w{12} on the host, \w{12} in the "
                     r"build\)", verified.out)
    assert "/etc/bootstrap/host.json: mode 0640, expected 0644" in verified.out
    assert "/etc/app/app.conf: owner nobody:root, expected root:root" in verified.out
    assert "base::test_motd_names_this_host" in verified.out
    assert "4 hosts (3 ok, 1 not ok)" in verified.out

    checked = site.push("--check", "--limit", "db1:web1")
    assert checked.rc == 2
    assert rows(checked.out) == {"db1": "would change 3 files", "web1": "unchanged"}
    assert "2 hosts: 1 would change, 1 unchanged, 0 failed" in checked.out
    assert "edited by hand" in site.on("db1", "cat /etc/motd")

    pushed = site.push("--backup")
    assert rows(pushed.out)["db1"] == "changed 3 files"
    assert rows(pushed.out)["web1"] == "unchanged"
    backups = site.on("db1", "ls /etc/ | grep '^motd\\.'").split()
    assert len(backups) == 1 and backups[0].endswith("Z~")
    assert "edited by hand" in site.on("db1", f"cat /etc/{backups[0]}")
    assert site.verify().rc == 0


def test_a_failing_check_never_shows_a_secret(site: Site, tmp_path: Path) -> None:
    site.on("web1", "echo DEBUG=1 >> /etc/app/token.env")
    verified = site.verify("--limit", "web1", "--json", tmp_path / "v.json",
                           "--junit", tmp_path / "v.xml")
    assert verified.rc == 1
    assert "app::test_token_file_has_no_debug_switch" in verified.out
    assert "token.env reads: TOKEN=<secret>" in verified.out
    assert "/etc/app/token.env: content differs (a secret file: hashes not shown)" in verified.out
    for text in (verified.out, verified.err, (tmp_path / "v.json").read_text(),
                 (tmp_path / "v.xml").read_text()):
        assert TOKEN not in text
    pushed = site.push("--limit", "web1")
    assert rows(pushed.out)["web1"] == "changed 1 file"
    assert TOKEN not in pushed.out + pushed.err


def test_a_stopped_host_fails_alone(site: Site, tmp_path: Path) -> None:
    site.on("web1", "echo 'edited' > /etc/motd")
    site.fleet.stop_node(site.nodes["db1"])
    try:
        pushed = site.push("--json", tmp_path / "push.json")
        assert pushed.rc == 1
        result = rows(pushed.out)
        assert re.fullmatch(r"failed: cannot connect to 127\.0\.0\.1:\d+: Connection refused "
                            r"\(after 2 attempts\)", result["db1"])
        assert result["web1"] == "changed 1 file"
        assert result["web2"] == result["web3"] == "unchanged"
        assert "4 hosts: 1 changed, 2 unchanged, 1 failed" in pushed.out
        report = json.loads((tmp_path / "push.json").read_text())
        assert report["hosts"]["db1"]["status"] == "failed"

        verified = site.verify()
        assert verified.rc == 1
        db1_lines = [line for line in verified.out.splitlines() if line.startswith("db1")]
        assert len(db1_lines) == 1, verified.out
        assert re.match(r"db1\s+-\s+UNREACHABLE\s+cannot connect to 127\.0\.0\.1:\d+: Connection "
                        r"refused", db1_lines[0])
        assert "Traceback" not in verified.out + verified.err
        assert "4 hosts (3 ok, 1 not ok), 27 checks: 24 passed, 0 failed, 0 errors, 3 skipped" \
            in verified.out
        assert "not checked: db1" in verified.out
    finally:
        site.fleet.start_node(site.nodes["db1"])
    assert site.verify("--limit", "db1").rc == 0


def test_a_connection_cut_mid_upload_leaves_no_partial_file(site: Site) -> None:
    site.on("web2", "rm /var/lib/app/blob.bin")
    site.proxy.cut_after(1 << 20)  # 1 MiB into the 8 MiB file
    cut = site.push("--limit", "web2")
    assert cut.rc == 1
    assert site.proxy.cuts == 1
    assert re.fullmatch(r"failed: connection lost.* while uploading; no partial file is left "
                        r"on the host, run push again", rows(cut.out)["web2"])
    # The destination was never written; the temporary file beside it goes with the session.
    waits.wait_for("the temporary file to go with the session",
                   lambda: "blob" not in site.on("web2", "ls -A /var/lib/app/"), 10, interval=0.2)

    again = site.push("--limit", "web2")
    assert rows(again.out)["web2"] == "changed 1 file"
    size = site.on("web2", "stat -c %s /var/lib/app/blob.bin")
    assert size.strip() == str(16 * 524288)
    assert site.verify("--limit", "web2").rc == 0


def test_a_changed_host_key_is_refused(site: Site, tmp_path: Path) -> None:
    # web1's entries now carry db1's keys: what a man in the middle would present.
    web1, db1 = (f"[127.0.0.1]:{site.nodes[h].port}" for h in ("web1", "db1"))
    lines = [line for line in site.fleet.known_hosts.read_text().splitlines()
             if not line.startswith(web1)]
    lines += [line.replace(db1, web1) for line in lines if line.startswith(db1)]
    forged = tmp_path / "known_hosts"
    forged.write_text("\n".join(lines) + "\n")
    site.on("web1", "echo 'edited' > /etc/motd")
    for extra in ([], ["--accept-new-host-keys"]):
        pushed = site.push("--limit", "web1", "--known-hosts", forged, *extra)
        assert pushed.rc == 1
        assert re.fullmatch(rf"failed: host key of \[127\.0\.0\.1\]:\d+ does not match {forged}: "
                            r"the host offers \S+ SHA256:\S+, the file has SHA256:\S+; "
                            r"refusing to connect \(if the host was rebuilt, remove its old line "
                            rf"with: ssh-keygen -R \[127\.0\.0\.1\]:\d+ -f {forged}\)",
                            rows(pushed.out)["web1"])
    assert site.on("web1", "cat /etc/motd") == "edited\n"
    verified = site.verify("--limit", "web1", "--known-hosts", forged)
    assert re.search(r"web1\s+-\s+UNREACHABLE\s+host key of", verified.out)


def test_an_unknown_host_key_needs_consent(site: Site, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    refused = site.push("--limit", "web1", "--known-hosts", empty)
    assert refused.rc == 1
    assert re.fullmatch(rf"failed: host key of \[127\.0\.0\.1\]:\d+ \(\S+ SHA256:\S+\) is "
                        rf"not in {empty}; refusing to connect\. Check the fingerprint and add it "
                        rf"\(ssh-keyscan -p \d+ 127\.0\.0\.1 >> {empty}\), or pass "
                        r"--accept-new-host-keys", rows(refused.out)["web1"])
    accepted = site.push("--limit", "web1", "--known-hosts", empty, "--accept-new-host-keys")
    assert rows(accepted.out)["web1"] == "changed 1 file"
    recorded = empty.read_text()
    assert recorded.startswith(f"[127.0.0.1]:{site.nodes['web1'].port} ")
    assert site.push("--limit", "web1", "--known-hosts", empty).rc == 0


def test_a_failing_apply_is_reported_without_its_secret_and_retried(site: Site,
                                                                    tmp_path: Path) -> None:
    inventory = write_tree(tmp_path / "inventory", {
        "hosts.yml": f"""
            all:
              hosts:
                db1:
                  ansible_host: 127.0.0.1
                  ansible_port: {site.nodes['db1'].port}
                  ansible_user: root
                  ansible_ssh_private_key_file: {site.fleet.key}
                  bootstrap_roles: [reload]
                  token: {{file: secrets/token}}
            """,
        "secrets/token": TOKEN + "\n",
        "roles/reload/role.yml": """
            description: a service whose reload prints its config and fails
            apply: cat /etc/reload/token.conf; exit 3
            artifacts:
              - {template: token.conf.j2, dest: /etc/reload/token.conf}
            """,
        "templates/token.conf.j2": "token = {{ vars.token }}\n",
    })
    build = tmp_path / "build"
    assert run_cli("render", inventory, "-o", build).rc == 0
    for done in (" (after changing 1 file)", ""):
        pushed = run_cli("push", inventory, "--build", build, "--known-hosts",
                         site.fleet.known_hosts, "--apply")
        assert pushed.rc == 1
        assert rows(pushed.out)["db1"] == ("failed: apply of role reload failed (exit 3): "
                                           f"token = <secret>{done}")
        assert TOKEN not in pushed.out + pushed.err
    # Still pending: the next push --apply tries again.
    assert "reload" in site.on("db1", "ls /var/lib/bootstrap/apply-pending/").split()


def test_a_check_that_hangs_ends_as_an_error(site: Site, tmp_path: Path) -> None:
    inventory = write_tree(tmp_path / "inventory", {
        "hosts.yml": f"""
            all:
              hosts:
                web1:
                  ansible_host: 127.0.0.1
                  ansible_port: {site.nodes['web1'].port}
                  ansible_user: root
                  ansible_ssh_private_key_file: {site.fleet.key}
                  bootstrap_roles: [slow]
            """,
        "roles/slow/role.yml": "description: a role whose check waits on something\n",
        "roles/slow/checks.py": """
            def test_waits(host):
                host.run("sleep 30")


            def test_quick(host):
                assert host.run("true").rc == 0
            """,
    })
    assert run_cli("render", inventory, "-o", tmp_path / "build").rc == 0
    verified = run_cli("verify", inventory, "--build", tmp_path / "build", "--known-hosts",
                       site.fleet.known_hosts, "--command-timeout", "1")
    assert verified.rc == 1
    assert re.search(r"^web1\s+slow::test_waits\s+ERROR\s+no answer for 1 s from: sleep 30$",
                     verified.out, re.M), verified.out
    assert re.search(r"^web1\s+slow::test_quick\s+ok$", verified.out, re.M)


def test_a_host_with_hundreds_of_files(site: Site, tmp_path: Path) -> None:
    # 700 files with long names: their arguments would not fit in one command line (sshd
    # passes it to the shell as one argument, at most 128 KiB), so push and verify batch them.
    inventory = write_tree(tmp_path / "inventory", {
        "hosts.yml": f"""
            all:
              hosts:
                db1:
                  ansible_host: 127.0.0.1
                  ansible_port: {site.nodes['db1'].port}
                  ansible_user: root
                  ansible_ssh_private_key_file: {site.fleet.key}
                  bootstrap_roles: [many]
            """,
        "roles/many/role.yml": """
            description: one file per item
            context: items.py:context
            artifacts:
              - template: item.j2
                dest: "/etc/many/{{ prefix }}-{{ item }}.conf"
                foreach: items
            """,
        "roles/many/items.py": """
            def context(target, settings):
                return {"prefix": "x" * 100, "items": [f"{i:03d}" for i in range(700)]}
            """,
        "templates/item.j2": "item {{ item }}\n",
    })
    build = tmp_path / "build"
    assert run_cli("render", inventory, "-o", build).rc == 0
    common = ["--build", build, "--known-hosts", site.fleet.known_hosts]
    pushed = run_cli("push", inventory, *common)
    assert pushed.rc == 0, pushed.out
    assert rows(pushed.out)["db1"] == "changed 700 files"
    assert site.on("db1", "ls /etc/many | wc -l") == "700\n"
    verified = run_cli("verify", inventory, *common)
    assert verified.rc == 0, verified.out
    assert rows(run_cli("push", inventory, *common).out)["db1"] == "unchanged"
