"""Ansible Vault: files and ``!vault`` values encrypted by ``ansible-vault`` itself decrypt to
what Ansible reads, and the decrypted values are secrets everywhere after that.

Every encrypted text here is made by ansible-core's own ``ansible-vault`` (``encrypt`` for
whole files, ``encrypt_string`` for values; ``--vault-id LABEL@FILE`` for format 1.2), once per
module. What Ansible reads is what ``ansible-inventory --list`` prints for whole files and what
``ansible -m debug`` prints for inline values (ansible-inventory shows those still encrypted).
"""

from __future__ import annotations

import json
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support import ansible
from support.cli import run_cli, write_tree

from bootstrap.inventory.loading import Inventory
from bootstrap.inventory.vault import Vaulted
from bootstrap.inventory.vaultpass import Source, VaultKeys

PROD_PASSWORD = "correct horse battery staple"
DEV_PASSWORD = "Tr0ub4dor&3 dev"
DB_SECRET = "db-Pa55-7f3c9e1a"  # in a whole encrypted group_vars file (format 1.1)
HOST_SECRET = "host-Key-52ab0c"  # in a whole encrypted host_vars file (format 1.2, id prod)
TOKEN_SECRET = "token-Zq8x-91d4"  # an inline !vault value (format 1.1)
API_SECRET = "api-Wm3k-0c77e2"  # an inline !vault value (format 1.2, id dev)
SECRETS = (DB_SECRET, HOST_SECRET, TOKEN_SECRET, API_SECRET)

GROUP_VARS = f"""\
db_password: {DB_SECRET}
db_port: 5432
replicas: [one, 2, true]
nothing: null
"""
HOST_VARS = f"""\
host_key: {HOST_SECRET}
nested:
  deep: {{k: v}}
"""


class Vault:
    """The encrypted texts, made once by ansible-vault, and the password files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prod = root / "prod.pass"
        self.prod.write_text(PROD_PASSWORD + "\n")
        self.dev = root / "dev.pass"
        self.dev.write_text(f"  {DEV_PASSWORD}\n\n")  # Ansible strips the whitespace around it
        self.group_vars = self.encrypt_file(GROUP_VARS, "--vault-password-file", self.prod)
        self.host_vars = self.encrypt_file(HOST_VARS, "--vault-id", f"prod@{self.prod}")
        self.token = self.encrypt_string(TOKEN_SECRET, "--vault-password-file", self.prod)
        self.api = self.encrypt_string(API_SECRET, "--vault-id", f"dev@{self.dev}")

    def encrypt_file(self, text: str, *how: str | Path) -> str:
        path = self.root / f"plain-{len(list(self.root.iterdir()))}.yml"
        path.write_text(text)
        proc = ansible.run("ansible-vault", "encrypt", *how, path)
        assert proc.returncode == 0, proc.stderr
        return path.read_text()

    def encrypt_string(self, value: str, *how: str | Path) -> str:
        proc = ansible.run("ansible-vault", "encrypt_string", *how, value)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("!vault |")
        return proc.stdout

    def both(self) -> tuple[str, ...]:
        return ("--vault-id", f"dev@{self.dev}", "--vault-password-file", str(self.prod))


@pytest.fixture(scope="module")
def vault(tmp_path_factory) -> Vault:
    return Vault(tmp_path_factory.mktemp("vault"))


def inline(text: str, indent: int) -> str:
    """An encrypt_string output as the value of a key at ``indent`` spaces."""
    head, _, body = text.partition("\n")
    return head + "\n" + textwrap.indent(textwrap.dedent(body), " " * (indent + 2))


def inventory(root: Path, vault: Vault, extra: dict[str, str] | None = None) -> Path:
    """Host app1 with two inline values, an encrypted group_vars file and host_vars file."""
    hosts = (
        "all:\n"
        "  hosts:\n"
        "    app1:\n"
        "      bootstrap_roles: [app]\n"
        f"      api_token: {inline(vault.token, 6)}"
        f"      api_key: {inline(vault.api, 6)}"
        "      plain: visible\n"
    )
    return write_tree(root, {
        "hosts.yml": hosts,
        "group_vars/all.yml": vault.group_vars,
        "host_vars/app1.yml": vault.host_vars,
        "roles/app/role.yml": "artifacts:\n  - {template: app.ini.j2, dest: /etc/app.ini}\n",
        "templates/app.ini.j2": ("db = {{ vars.db_password | ini }}\n"
                                 "host = {{ vars.host_key | ini }}\n"
                                 "token = {{ vars.api_token | ini }}\n"
                                 "api = {{ vars.api_key | ini }}\n"
                                 "plain = {{ vars.plain }}\n"),
        **(extra or {}),
    })


def revealed(value: Any) -> Any:
    if isinstance(value, Vaulted):
        return value.value
    if isinstance(value, dict):
        return {k: revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revealed(v) for v in value]
    return value


def no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} shown"
    assert PROD_PASSWORD not in text and DEV_PASSWORD not in text


def one_error(result) -> str:
    assert result.rc == 1, result.out + result.err
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    no_secret_in(result.out + result.err)
    return lines[0]


# -- the same data as Ansible -------------------------------------------------------------------


def test_files_and_inline_values_decrypt_to_what_ansible_reads(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    proc = ansible.run("ansible-inventory", "-i", (inv / "hosts.yml").resolve(), "--list",
                       *vault.both())
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)["_meta"]["hostvars"]["app1"]
    keys = VaultKeys([Source("dev", vault.dev), Source("default", vault.prod)])
    loaded = Inventory(inv, keys)
    ours = loaded.resolve(loaded.host("app1"))
    # Whole files: every value, types included, as Ansible reads them; each leaf is secret.
    for key in ("db_password", "db_port", "replicas", "nothing", "host_key", "nested"):
        assert revealed(ours[key]) == theirs[key], key
    assert isinstance(ours["db_port"], Vaulted) and isinstance(ours["nested"]["deep"]["k"], Vaulted)
    assert ours["nothing"] is None
    # Inline values: ansible-inventory prints them still encrypted; ansible's debug decrypts.
    for key in ("api_token", "api_key"):
        assert set(theirs[key]) == {"__ansible_vault"}
        proc = ansible.run("ansible", "app1", "-i", (inv / "hosts.yml").resolve(), "-m", "debug", "-a",
                           f"var={key}", *vault.both())
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout.split("=>", 1)[1])[key]
        assert isinstance(ours[key], Vaulted) and ours[key].value == shown
    assert {ours["api_token"].value, ours["api_key"].value} == {TOKEN_SECRET, API_SECRET}
    assert ours["plain"] == "visible"


def test_an_inventory_file_encrypted_whole_gives_its_hosts_and_secret_vars(tmp_path, vault):
    text = vault.encrypt_file("web:\n  hosts:\n    web1:\n      token: t-Secret-99\n"
                              "  vars:\n    region: eu-west-1\n", "--vault-password-file",
                              vault.prod)
    inv = write_tree(tmp_path / "inv", {"hosts.yml": text})
    proc = ansible.run("ansible-inventory", "-i", inv.resolve(), "--list",
                       "--vault-password-file", vault.prod)
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    result = run_cli("inventory", inv, "--list", "--vault-password-file", vault.prod)
    assert result.rc == 0, result.err
    ours = json.loads(result.out)
    assert ours["web"] == theirs["web"] == {"hosts": ["web1"]}
    assert ours["_meta"]["hostvars"]["web1"] == {
        "region": "<secret:vault:hosts.yml:web.vars.region>",
        "token": "<secret:vault:hosts.yml:web.hosts.web1.token>"}
    assert theirs["_meta"]["hostvars"]["web1"] == {"region": "eu-west-1", "token": "t-Secret-99"}
    assert "t-Secret-99" not in result.out + result.err


def test_an_ini_inventory_encrypted_whole_reads_as_ansible_reads_it(tmp_path, vault):
    text = vault.encrypt_file("[web]\nweb1 ansible_host=10.0.0.1 token='t S3cret 7' port=22\n"
                              "[web:vars]\nregion=eu-west-1\n", "--vault-password-file",
                              vault.prod)
    inv = write_tree(tmp_path / "inv", {"hosts": text})
    proc = ansible.run("ansible-inventory", "-i", (inv / "hosts").resolve(), "--list",
                       "--vault-password-file", vault.prod, plugins="ini")
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    loaded = Inventory(inv / "hosts", VaultKeys([Source("default", vault.prod)]))
    ours = loaded.resolve(loaded.host("web1"))
    assert revealed(ours) == theirs["_meta"]["hostvars"]["web1"]
    assert {k for k, v in ours.items() if isinstance(v, Vaulted)} == {"token", "port", "region"}
    assert ours["ansible_host"] == "10.0.0.1"  # how to reach the host stays a plain value
    result = run_cli("inventory", inv / "hosts", "--host", "web1", "--vault-password-file",
                     vault.prod)
    assert result.rc == 0, result.err
    assert json.loads(result.out)["token"] == "<secret:vault:hosts:web.hosts.web1.token>"
    assert "S3cret" not in result.out + result.err


def test_an_encrypted_value_in_a_json_file_reads_as_ansible_reads_it(tmp_path, vault):
    """``{"__ansible_vault": TEXT}``, as ansible-inventory --list prints an inline value."""
    text = vault.api.partition("\n")[2]
    ciphertext = textwrap.dedent(text)
    inv = write_tree(tmp_path / "inv", {"hosts.json": json.dumps(
        {"all": {"hosts": {"app1": {"api_key": {"__ansible_vault": ciphertext}}}}})})
    proc = ansible.run("ansible", "app1", "-i", (inv / "hosts.json").resolve(), "-m", "debug",
                       "-a", "var=api_key", "--vault-id", f"dev@{vault.dev}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.split("=>", 1)[1])["api_key"] == API_SECRET
    loaded = Inventory(inv, VaultKeys([Source("dev", vault.dev)]))
    value = loaded.resolve(loaded.host("app1"))["api_key"]
    assert isinstance(value, Vaulted) and value.value == API_SECRET
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-password-file", vault.prod,
                              cwd=tmp_path))
    assert error.startswith("error: inv/hosts.json:1: cannot decrypt"), error


def test_connection_vars_and_roles_of_an_encrypted_file_stay_plain(tmp_path, vault):
    """A host_vars file encrypted whole may say how to reach the host and its roles; every other
    value in it is a secret."""
    text = vault.encrypt_file("ansible_host: 10.1.2.3\nansible_port: 2222\nansible_user: ops\n"
                              "bootstrap_roles: [app]\napp_password: pw-In-Host-Vars-8\n",
                              "--vault-password-file", vault.prod)
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": "all:\n  hosts:\n    app1:\n",
        "host_vars/app1.yml": text,
        "roles/app/role.yml": "artifacts:\n  - {template: a.j2, dest: /etc/a}\n",
        "templates/a.j2": "{{ vars.ansible_host }}:{{ vars.ansible_port }} {{ vars.app_password }}\n"})
    result = run_cli("render", inv, "-o", tmp_path / "b", "--vault-password-file", vault.prod)
    assert result.rc == 0, result.err
    assert (tmp_path / "b/app1/files/etc/a").read_text() == "10.1.2.3:2222 pw-In-Host-Vars-8\n"
    assert (tmp_path / "b/app1/.redacted/files/etc/a").read_text() == (
        "10.1.2.3:2222 <secret:vault:host_vars/app1.yml:app_password>\n")


def test_a_padding_edge_of_every_length_decrypts(tmp_path):
    """Plaintexts of 0 to 33 bytes (none, part of, one and two whole AES blocks of padding),
    encrypted by ansible-core's own VaultLib."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    from bootstrap.inventory import vault as ours

    password = b"pw-of-the-padding-test"
    lib = VaultLib([("default", VaultSecret(password))])
    for size in range(34):
        plain = bytes(range(65, 65 + size))
        text = lib.encrypt(plain, VaultSecret(password))
        assert ours.decrypt(text, [ours.Password("default", password)]) == plain, size


# -- secrets from then on ---------------------------------------------------------------------


def test_a_render_writes_the_secrets_0600_and_redacts_them_everywhere_else(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    build = tmp_path / "build"
    result = run_cli("render", inv, "-o", build, *vault.both())
    assert result.rc == 0, result.err
    no_secret_in(result.out + result.err)
    real = build / "app1/files/etc/app.ini"
    assert real.read_text() == (f"db = {DB_SECRET}\nhost = {HOST_SECRET}\ntoken = {TOKEN_SECRET}\n"
                                f"api = {API_SECRET}\nplain = visible\n")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    copy = (build / "app1/.redacted/files/etc/app.ini").read_text()
    assert copy == ("db = <secret:vault:group_vars/all.yml:db_password>\n"
                    "host = <secret:vault:host_vars/app1.yml:host_key>\n"
                    "token = <secret:vault:hosts.yml:all.hosts.app1.api_token>\n"
                    "api = <secret:vault:hosts.yml:all.hosts.app1.api_key>\n"
                    "plain = visible\n")
    for path in build.rglob("*"):
        if path.is_file() and path != real:
            no_secret_in(path.read_text(errors="replace"))
    # A changed secret: the diff shows neither the old value nor the new one.
    (inv / "group_vars/all.yml").write_text(
        vault.encrypt_file(GROUP_VARS.replace(DB_SECRET, "db-New-Value-42"),
                           "--vault-password-file", vault.prod))
    result = run_cli("render", inv, "-o", build, "--diff", *vault.both())
    assert result.rc == 0, result.err
    no_secret_in(result.out + result.err)
    assert "db-New-Value-42" not in result.out + result.err
    assert "db-New-Value-42" in real.read_text()


def test_push_and_verify_hide_the_decrypted_values_in_what_they_print(tmp_path, vault):
    """push and verify pass every line a host prints through the host's redactor, and show its
    vars as placeholders: decrypted values are among the secrets they hide."""
    from bootstrap.fleet import pool
    from bootstrap.inventory.vaultpass import using

    inv = inventory(tmp_path / "inv", vault)
    build = tmp_path / "build"
    assert run_cli("render", inv, "-o", build, *vault.both()).rc == 0
    with using(VaultKeys([Source("dev", vault.dev), Source("default", vault.prod)])):
        (host,) = pool.load(inv, build, None).hosts
    no_secret_in(json.dumps(host.hostvars))
    assert host.hostvars["db_password"] == "<secret:vault:group_vars/all.yml:db_password>"
    printed = host.redact(f"connecting with {DB_SECRET}; token {TOKEN_SECRET}, key {API_SECRET}")
    no_secret_in(printed)


def test_the_placeholder_does_not_depend_on_the_working_folder(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    first = run_cli("inventory", inv, "--host", "app1", *vault.both())
    second = run_cli("inventory", "hosts.yml", "--host", "app1", *vault.both(), cwd=inv)
    assert first.rc == second.rc == 0, first.err + second.err
    assert first.out == second.out


def test_inventory_shows_placeholders_as_for_secret_references(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    shown = run_cli("inventory", inv, "--host", "app1", *vault.both())
    assert shown.rc == 0, shown.err
    data = json.loads(shown.out)
    assert data["db_password"] == "<secret:vault:group_vars/all.yml:db_password>"
    assert data["db_port"] == "<secret:vault:group_vars/all.yml:db_port>"
    assert data["api_key"] == "<secret:vault:hosts.yml:all.hosts.app1.api_key>"
    assert data["plain"] == "visible"
    listed = run_cli("inventory", inv, "--list", *vault.both())
    explained = run_cli("inventory", inv, "--explain", "app1", "api_token", *vault.both())
    for result in (shown, listed, explained):
        assert result.rc == 0, result.err
        no_secret_in(result.out + result.err)
    assert explained.out == ('app1: api_token = "<secret:vault:hosts.yml:all.hosts.app1.api_token>"'
                             f"\n  from {inv}/hosts.yml:5 (host app1 (inline))\n")


def test_a_decrypted_value_in_a_field_that_wants_a_plain_value_is_refused_unseen(tmp_path,
                                                                                   vault):
    text = vault.encrypt_string("2222", "--vault-password-file", vault.prod)
    inv = write_tree(tmp_path / "inv", {"hosts.yml": (
        "all:\n  hosts:\n    app1:\n      bootstrap_roles: [app]\n"
        f"      ansible_port: {inline(text, 6)}"),
        "roles/app/role.yml": "artifacts:\n  - {template: a.j2, dest: /etc/a}\n",
        "templates/a.j2": "x\n"})
    error = one_error(run_cli("render", inv, "-o", tmp_path / "b", "--vault-password-file",
                              vault.prod))
    assert "host app1" in error and "ansible_port" in error, error
    assert "2222" not in error


# -- errors -------------------------------------------------------------------------------------


def test_a_wrong_password_names_the_file(tmp_path, vault):
    inventory(tmp_path / "inv", vault)
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not it\n")
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-id", f"dev@{vault.dev}",
                              "--vault-password-file", wrong, cwd=tmp_path))
    # The inventory file comes first: its inline 1.1 value (id default) is the first to fail.
    assert error.startswith("error: inv/hosts.yml:5:"), error
    assert "cannot decrypt: none of the 2 vault passwords given" in error, error
    assert "a wrong password, or a text altered since it was encrypted" in error


def test_a_wrong_password_for_a_whole_file_names_the_file_and_line_1(tmp_path, vault):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "all:\n  hosts:\n    app1:\n",
                                        "group_vars/all.yml": vault.group_vars})
    error = one_error(run_cli("render", "inv", "-o", "b", "--vault-password-file", vault.dev,
                              cwd=tmp_path))
    assert error == (f"error: inv/group_vars/all.yml:1: cannot decrypt: the vault password "
                     f"default@{vault.dev} does not open it (a wrong password, or a text altered "
                     "since it was encrypted)")
    assert not (tmp_path / "b").exists()
    assert inv.is_dir()


def test_no_password_says_which_option_gives_it(tmp_path, vault):
    inventory(tmp_path / "inv", vault)
    for command in (["inventory", "inv", "--list"], ["render", "inv", "-o", "b"]):
        error = one_error(run_cli(*command, cwd=tmp_path, env={
            "ANSIBLE_VAULT_PASSWORD_FILE": None, "ANSIBLE_VAULT_IDENTITY_LIST": None}))
        assert error.startswith("error: inv/hosts.yml:5:"), error
        assert error.endswith("encrypted with ansible-vault: give its password with "
                              "--vault-password-file FILE or --vault-id [LABEL@]FILE (or set "
                              "ANSIBLE_VAULT_PASSWORD_FILE)"), error


def test_an_altered_file_fails_as_a_wrong_password_does(tmp_path, vault):
    header, _, body = vault.group_vars.partition("\n")
    outer = "".join(body.split())
    # One character of the ciphertext's hex (the inner text's end), changed to another digit:
    # still well formed, so only the HMAC can tell.
    at = max(i for i in range(len(outer) - 40, len(outer), 2) if outer[i] == "3")
    outer = f"{outer[:at + 1]}{(int(outer[at + 1]) + 1) % 10}{outer[at + 2:]}"
    altered = "\n".join(outer[i:i + 80] for i in range(0, len(outer), 80)) + "\n"
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "all:\n  hosts:\n    app1:\n",
                                        "group_vars/all.yml": f"{header}\n{altered}"})
    proc = ansible.run("ansible-inventory", "-i", inv.resolve(), "--list",
                       "--vault-password-file", vault.prod)
    assert proc.returncode != 0 and "Decryption failed" in proc.stderr  # Ansible refuses it too
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-password-file", vault.prod,
                              cwd=tmp_path))
    assert error.startswith("error: inv/group_vars/all.yml:1: cannot decrypt: the vault "
                            "password"), error
    assert "a wrong password, or a text altered since it was encrypted" in error


@pytest.mark.parametrize(("body", "problem"), [
    ("zz\n", "malformed vault text"),
    ("6162\n", "malformed vault text"),
    ("", "malformed vault text"),
])
def test_a_malformed_vault_text_is_one_error(tmp_path, vault, body, problem):
    write_tree(tmp_path / "inv", {"hosts.yml": "all:\n  hosts:\n    app1:\n",
                                        "group_vars/all.yml": f"$ANSIBLE_VAULT;1.1;AES256\n{body}"})
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-password-file", vault.prod,
                              cwd=tmp_path))
    assert error.startswith(f"error: inv/group_vars/all.yml:1: {problem}"), error


def test_an_unknown_format_or_cipher_is_named(tmp_path, vault):
    text = vault.group_vars.replace("1.1;AES256", "1.1;AES128", 1)
    write_tree(tmp_path / "inv", {"hosts.yml": "all:\n  hosts:\n    app1:\n",
                                        "group_vars/all.yml": text})
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-password-file", vault.prod,
                              cwd=tmp_path))
    assert "vault cipher 'AES128' is not supported (AES256 is)" in error


def test_a_vault_tag_on_a_mapping_names_its_line(tmp_path, vault):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": (
        "all:\n  hosts:\n    app1:\n      x: !vault {a: b}\n")})
    error = one_error(run_cli("inventory", inv, "--list", "--vault-password-file", vault.prod))
    assert "hosts.yml:4:" in error and "!vault must tag the text" in error, error


# -- passwords: several vault ids, sources, programs ---------------------------------------------


def test_two_vault_ids_each_open_their_own_values(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    for options in (
        ("--vault-id", f"dev@{vault.dev}", "--vault-id", f"prod@{vault.prod}"),
        ("--vault-id", f"prod@{vault.prod}", "--vault-id", f"dev@{vault.dev}"),
        # A label that matches no text's id: Ansible tries every password, and so does this.
        ("--vault-id", f"other@{vault.dev}", "--vault-password-file", str(vault.prod)),
    ):
        build = tmp_path / f"b-{len(list(tmp_path.iterdir()))}"
        result = run_cli("render", inv, "-o", build, *options)
        assert result.rc == 0, (options, result.err)
        text = (build / "app1/files/etc/app.ini").read_text()
        assert all(secret in text for secret in SECRETS), options


def test_only_one_of_two_vault_ids_is_refused_for_the_other_values(tmp_path, vault):
    inventory(tmp_path / "inv", vault)
    error = one_error(run_cli("render", "inv", "-o", "b", "--vault-id", f"prod@{vault.prod}",
                              cwd=tmp_path))
    # The dev value is the second inline value: its !vault tag is on line 12 of hosts.yml.
    assert error.startswith("error: inv/hosts.yml:12:"), error
    assert f"the vault password prod@{vault.prod} does not open it" in error


def test_the_environment_variable_gives_a_password_file(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    result = run_cli("render", inv, "-o", tmp_path / "b", "--vault-id", f"dev@{vault.dev}",
                     env={"ANSIBLE_VAULT_PASSWORD_FILE": str(vault.prod)})
    assert result.rc == 0, result.err
    assert DB_SECRET in (tmp_path / "b/app1/files/etc/app.ini").read_text()


def test_the_identity_list_variable_gives_vault_ids(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    result = run_cli("render", inv, "-o", tmp_path / "b", env={
        "ANSIBLE_VAULT_IDENTITY_LIST": f"dev@{vault.dev}, prod@{vault.prod}",
        "ANSIBLE_VAULT_PASSWORD_FILE": None})
    assert result.rc == 0, result.err
    assert all(secret in (tmp_path / "b/app1/files/etc/app.ini").read_text() for secret in SECRETS)


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o700)
    return path


def test_an_executable_password_file_is_run_for_its_password(tmp_path, vault):
    inv = inventory(tmp_path / "inv", vault)
    script = executable(tmp_path / "prod-pass.sh", f"#!/bin/sh\necho '{PROD_PASSWORD}'\n")
    client = executable(tmp_path / "keyring-client.sh",
                        "#!/bin/sh\n"
                        f'[ "$1 $2" = "--vault-id dev" ] && echo \'{DEV_PASSWORD}\' && exit 0\n'
                        "exit 2\n")
    result = run_cli("render", inv, "-o", tmp_path / "b", "--vault-password-file", script,
                     "--vault-id", f"dev@{client}")
    assert result.rc == 0, result.err
    text = (tmp_path / "b/app1/files/etc/app.ini").read_text()
    assert all(secret in text for secret in SECRETS)
    # A client asked for an id it does not know says so (exit status 2).
    error = one_error(run_cli("render", inv, "-o", tmp_path / "c", "--vault-password-file",
                              script, "--vault-id", f"qa@{client}"))
    assert error == (f"error: {client}: vault password program has no password for vault id "
                     "'qa'")


def test_a_failing_password_program_is_one_error(tmp_path, vault):
    inventory(tmp_path / "inv", vault)
    script = executable(tmp_path / "pass.sh", "#!/bin/sh\nexit 3\n")
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-password-file", script,
                              cwd=tmp_path))
    assert error == f"error: {script}: vault password program exited with status 3"


@pytest.mark.parametrize(("content", "problem"), [
    (None, "vault password file: No such file or directory"),
    (" \n\n", "vault password file is empty"),
])
def test_a_password_file_that_gives_no_password(tmp_path, vault, content, problem):
    inventory(tmp_path / "inv", vault)
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-password-file", path,
                              cwd=tmp_path))
    assert error == f"error: {path}: {problem}"


def test_asking_for_the_password_is_refused(tmp_path, vault):
    inventory(tmp_path / "inv", vault)
    error = one_error(run_cli("inventory", "inv", "--list", "--vault-id", "dev@prompt",
                              cwd=tmp_path))
    assert error == ("error: --vault-id dev@prompt: asking for a vault password is not "
                     "supported; give a file that holds it (or a program that prints it)")


def test_passwords_are_read_only_when_something_is_encrypted(tmp_path):
    inv = write_tree(tmp_path / "inv", {"hosts.yml": "all:\n  hosts:\n    app1:\n"})
    marker = tmp_path / "ran"
    script = executable(tmp_path / "pass.sh", f"#!/bin/sh\ntouch {marker}\necho pw\n")
    result = run_cli("inventory", inv, "--list", "--vault-password-file", script)
    assert result.rc == 0, result.err
    assert not marker.exists()


@pytest.mark.parametrize("command", ["render", "inventory", "push", "verify", "launch",
                                     "terminate"])
def test_every_command_that_reads_an_inventory_takes_the_vault_options(command):
    result = run_cli(command, "--help")
    assert result.rc == 0, result.err
    assert "--vault-password-file FILE" in result.out and "--vault-id [LABEL@]FILE" in result.out


def test_a_file_that_is_not_an_inventory_still_refuses_vault(tmp_path, vault):
    """A role's role.yml is read without vault passwords: !vault there is refused clearly."""
    inv = write_tree(tmp_path / "inv", {
        "hosts.yml": "all:\n  hosts:\n    app1:\n      bootstrap_roles: [app]\n",
        "roles/app/role.yml": f"description: {inline(vault.token, 0)}"
                              "artifacts:\n  - {template: a.j2, dest: /etc/a}\n",
        "templates/a.j2": "x\n"})
    error = one_error(run_cli("render", inv, "-o", tmp_path / "b", "--vault-password-file",
                              vault.prod))
    assert "role.yml:1:" in error and "not read in this file" in error, error

