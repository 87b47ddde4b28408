"""The README's ```console blocks are what the tool prints.

Every console block runs, in README order, in one folder holding a copy of the example
``inventory/``, as a reader following the README would run it: each ``$`` line through bash with
``bootstrap`` on PATH, and what follows it until the next ``$`` line is compared with what the
command printed (stdout and stderr, as a terminal shows them). In the README's text:

- a line ``...`` stands for any number of lines;
- ``…`` within a line stands for any text (a digest, a size, the rest of a long line);
- lines before a block's first ``$`` line are messages without their command: each names what
  produces it through one of the SCENARIOS below (an edit of the example inventory, then
  ``bootstrap render inventory -o build``);
- a block preceded by ``<!-- console: against moto (...) -->`` runs against a moto server
  started as the README starts it, in place of ``http://127.0.0.1:5000``; instance ids and
  addresses, which moto draws at random, compare as wildcards;
- a block preceded by ``<!-- console: not run (REASON) -->`` needs what a test machine does not
  offer (SSH hosts); it is listed in NOT_RUN so that the list stays short.

The ``aws`` command of the README is a stand-in here that prints a saved answer.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import waits
from support.cli import ROOT
from support.cloud import AMIS, REGION
from support.moto import FAKE_CREDENTIALS, MotoServer, admin_client, moto_server

from bootstrap.validate.registry import all_checkers

README = ROOT / "README.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.M | re.S)
NOT_RUN_MARK = re.compile(r"<!-- console: not run \((.+?)\) -->\s*$")
MOTO_MARK = re.compile(r"<!-- console: against moto \(.+?\) -->\s*$")
README_ENDPOINT = "http://127.0.0.1:5000"
# What moto draws at random: instance ids and IPv4 addresses.
VARYING = [(re.compile(r"\bi-[0-9a-f]{17}\b"), "i-<id>"),
           (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<address>")]
HEADING = re.compile(r"^#+ (.+)$", re.M)
# The blocks that do not run here, by the heading they are under: keep this short.
# The commands whose sections hold the blocks that are not run (they need SSH hosts, or boot
# a virtual machine).
NOT_RUN = {"push", "verify", "lab"}
DESCRIBE_VIFS = ROOT / "tests" / "fixtures" / "aws" / "describe-virtual-interfaces.json"


@dataclass
class Step:
    command: str | None  # None: messages, each produced by a scenario
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    name: str  # the heading it is under, and its number there
    line: int  # in README.md
    steps: list[Step]
    not_run: str | None
    moto: bool = False


def blocks() -> list[Block]:
    text = README.read_text()
    found: list[Block] = []
    counts: dict[str, int] = {}
    for match in FENCE.finditer(text):
        if match.group(1) != "console":
            continue
        before = text[:match.start()]
        headings = HEADING.findall(before)
        heading = headings[-1] if headings else "top"
        counts[heading] = counts.get(heading, 0) + 1
        mark = NOT_RUN_MARK.search(before)
        steps: list[Step] = []
        for line in match.group(2).splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            elif not steps:
                steps.append(Step(None, [line]))
            else:
                steps[-1].expected.append(line)
        found.append(Block(f"{heading} #{counts[heading]}", before.count("\n") + 1, steps,
                           mark.group(1) if mark else None, MOTO_MARK.search(before) is not None))
    return found


def varying(lines: list[str]) -> list[str]:
    for pattern, stand_in in VARYING:
        lines = [pattern.sub(stand_in, line) for line in lines]
    return lines


def matches(expected: list[str], actual: list[str]) -> bool:
    """``actual`` lines fit ``expected``, where a line ``...`` is any lines and ``…`` any text."""
    parts = []
    for line in expected:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(r"[^\n]*".join(map(re.escape, line.split("…"))) + r"\n")
    return re.fullmatch("".join(parts), "".join(f"{line}\n" for line in actual)) is not None


# -- running commands as a reader does -------------------------------------------------------------


def shell_env(bin_dir: Path, extra: dict[str, str | None] | None = None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def make_bin(folder: Path) -> Path:
    """``bootstrap`` (this checkout, this interpreter) and the stand-in ``aws``."""
    folder.mkdir()
    (folder / "bootstrap").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bootstrap "$@"\n')
    (folder / "aws").write_text(
        "#!/bin/sh\n"
        'if [ "$*" = "directconnect describe-virtual-interfaces" ]; then\n'
        f'  exec cat "{DESCRIBE_VIFS}"\n'
        "fi\n"
        'echo "aws: only a stand-in for the README here" >&2; exit 2\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


def run(command: str, cwd: Path, bin_dir: Path,
        extra: dict[str, str | None] | None = None) -> tuple[int, list[str]]:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=shell_env(bin_dir, extra),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=waits.allowance(600))
    return proc.returncode, proc.stdout.splitlines()


# -- what produces the README's messages -------------------------------------------------------------


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: {old!r} is not there once"
    path.write_text(text.replace(old, new))


@dataclass(frozen=True)
class Scenario:
    """An edit of the example inventory after which ``bootstrap render inventory -o build``
    prints a README message; ``key`` is a piece of that message."""
    key: str
    edit: Callable[[Path], None]


def _openbgpd_bfd(inv: Path) -> None:
    replace(inv / "host_vars" / "dx-bgpd01.yml", "      redundancy: active\n",
            "      redundancy: active\n      bfd: {interval_ms: 300, multiplier: 3}\n")


def _malformed_yaml(inv: Path) -> None:
    (inv / "extra.yml").write_text("all:\n  hosts:\n    web04:\n      http_port: 80\n"
                                   "      region eu-west-1\n      ansible_user: deploy\n")


def _puppet_port_type(inv: Path) -> None:
    replace(inv / "host_vars" / "pup-deb01.yml", "puppet:\n", "puppet:\n  serverport: eighty\n")


def _puppet_server_injection(inv: Path) -> None:
    replace(inv / "host_vars" / "pup-deb01.yml", "  server: puppet.example.internal\n",
            "  server: 'puppet.example.internal; touch /tmp/x'\n")


def _chef_server_url_missing(inv: Path) -> None:
    path = inv / "group_vars" / "chef_nodes.yml"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.lstrip().startswith("server_url:")))


def _bfd_too_fast(inv: Path) -> None:
    replace(inv / "host_vars" / "dx-frr01.yml", "bfd: {interval_ms: 500, multiplier: 4}",
            "bfd: {interval_ms: 100, multiplier: 4}")


def _user_data_too_large(inv: Path) -> None:
    # 30 KB that gzip cannot shrink, the same on every run.
    blocks = [hashlib.sha256(str(i).encode()).digest() for i in range(700)]
    noise = base64.b64encode(b"".join(blocks)).decode()
    with (inv / "host_vars" / "backup01.yml").open("a") as vars_file:
        vars_file.write(f"  write_files:\n    - path: /etc/backup/seed\n      content: {noise}\n")


def _undefined_in_template(inv: Path) -> None:
    motd = inv / "templates" / "base" / "motd.j2"
    motd.parent.mkdir(parents=True)
    motd.write_text("Managed by {{ motd_owner }}; ask before you change anything.\n")


SCENARIOS = [
    Scenario("OpenBGPD has no BFD", _openbgpd_bfd),
    Scenario("malformed YAML", _malformed_yaml),
    Scenario("key puppet.serverport:", _puppet_port_type),
    Scenario("key puppet.server:", _puppet_server_injection),
    Scenario("key chef.server_url: is required", _chef_server_url_missing),
    Scenario("key dx.vifs.1.bfd.interval_ms", _bfd_too_fast),
    Scenario("key cloud_init.gzip: user-data is", _user_data_too_large),
    Scenario("undefined template variable", _undefined_in_template),
]


def scenario_output(scenario: Scenario, folder: Path, bin_dir: Path) -> tuple[int, list[str]]:
    folder.mkdir()
    shutil.copytree(ROOT / "inventory", folder / "inventory")
    scenario.edit(folder / "inventory")
    return run("bootstrap render inventory -o build", folder, bin_dir)


# -- the tests ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    rc: int
    lines: list[str]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, int], Outcome]]:
    """Every command of every block that runs, in README order, in one folder."""
    top = tmp_path_factory.mktemp("readme")
    bin_dir = make_bin(top / "bin")
    work = top / "work"
    work.mkdir()
    shutil.copytree(ROOT / "inventory", work / "inventory")
    done: dict[tuple[str, int], Outcome] = {}
    with contextlib.ExitStack() as stack:
        server: MotoServer | None = None
        for block in blocks():
            if block.not_run:
                continue
            if block.moto and server is None:
                server = stack.enter_context(start_moto(top / "moto.log"))
            for number, step in enumerate(block.steps):
                if step.command is None:
                    continue
                command, extra = step.command, None
                if block.moto:
                    assert server is not None
                    command = command.replace(README_ENDPOINT, server.url)
                    extra = dict(FAKE_CREDENTIALS)
                done[(block.name, number)] = Outcome(*run(command, work, bin_dir, extra))
        yield done


@contextlib.contextmanager
def start_moto(log: Path) -> Iterator[MotoServer]:
    """What the README's set-up for launch does: moto with the example's AMIs, and the bucket."""
    with moto_server(log, env={"MOTO_AMIS_PATH": str(AMIS)}) as server:
        admin_client("s3", server.url, REGION).create_bucket(
            Bucket="fleet-bootstrap-example", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield server


BLOCKS = blocks()


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.not_run], ids=lambda b: b.name)
def test_console_block_is_what_the_tool_prints(block: Block, outcomes, tmp_path) -> None:
    bin_dir = make_bin(tmp_path / "bin")
    drifted: list[str] = []  # every difference of the block, not only the first
    for number, step in enumerate(block.steps):
        if step.command is None:
            for index, message in enumerate(step.expected):
                chosen = [s for s in SCENARIOS if s.key in message]
                if len(chosen) != 1:
                    drifted.append(f"no scenario of {__name__} produces {message!r}")
                    continue
                rc, lines = scenario_output(chosen[0], tmp_path / f"scenario{number}-{index}",
                                            bin_dir)
                if rc != 1 or not any(matches([message], [line]) for line in lines):
                    drifted.append(f"README shows:\n{message}\nthe tool printed (exit {rc}):\n"
                                   + "\n".join(lines))
            continue
        outcome = outcomes[(block.name, number)]
        fails = any(line.startswith("error: ") for line in step.expected)
        seen, shown = (varying(outcome.lines), varying(step.expected)) if block.moto \
            else (outcome.lines, step.expected)
        if not matches(shown, seen) or (outcome.rc != 0) != fails:
            drifted.append(f"$ {step.command}\nREADME shows:\n" + "\n".join(step.expected)
                           + f"\nthe tool printed (exit {outcome.rc}):\n" + "\n".join(outcome.lines))
    assert not drifted, f"README.md:{block.line}: " + "\n\n".join(drifted)


def test_only_the_blocks_that_need_ssh_hosts_are_not_run() -> None:
    # A block is named after its section, "`bootstrap push INVENTORY [...]` #1".
    skipped = {b.name.split()[1] for b in BLOCKS if b.not_run}
    assert skipped == NOT_RUN
    assert len([b for b in BLOCKS if not b.not_run]) >= 9


def test_the_validate_table_names_every_checker_and_what_brings_it() -> None:
    rows = [line.split("|")[1:-1] for line in README.read_text().splitlines()
            if line.startswith("| `")]
    for checker in all_checkers():
        row = [r for r in rows if f"`{checker.name}`" in r[0]]
        assert len(row) == 1, f"README has no row for the {checker.name} checker"
        brought_by = row[0][-1]
        for need in checker.needs():
            kind, _, package = checker.brought_by[need].partition(":")
            wanted = f"`{package}`" if kind == "apt" else f"the `{package}` extra"
            assert wanted in brought_by, f"README: {checker.name} needs {need}, from {wanted}"
    apt = {p.partition(":")[2] for checker in all_checkers() for p in checker.brought_by.values()
           if p.startswith("apt:")}
    command = re.search(r"`apt-get install -y ([a-z0-9. \n-]+)`", README.read_text())
    assert command is not None and set(command.group(1).split()) == apt


@pytest.mark.parametrize(("expected", "actual", "fits"), [
    (["a", "...", "z"], ["a", "b", "c", "z"], True),
    (["a", "...", "z"], ["a", "z"], True),
    (["a", "z"], ["a", "b", "z"], False),
    (["a", "b…"], ["a", "b and more"], True),
    (["a", "b…"], ["a", "c b"], False),
    (["x … y"], ["x 12 bytes y"], True),
    (["x … y"], ["x 12 bytes z"], False),
    (["a"], ["a", "extra"], False),
    (["..."], [], True),
])
def test_elisions(expected: list[str], actual: list[str], fits: bool) -> None:
    assert matches(expected, actual) is fits


def test_ci_runs_the_test_command_of_the_readme() -> None:
    commands = [m.group(2).strip() for m in FENCE.finditer(README.read_text()) if m.group(1) == "sh"]
    test_command = next(c for c in commands if "scripts/test.sh" in c)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == test_command == "bash scripts/test.sh"
