"""How far ``bootstrap render`` is from the cost of the work it cannot avoid.

Generates an Ansible-style inventory of N hosts (default 10,000) in 50 groups (fewer below 50
hosts), with group_vars for every group, host_vars for some hosts and a few parent groups, then
times, each in a process of its own (CPU time and peak RSS from ``wait4``):

- **floor**: PyYAML's C loader parsing the same files, plain Jinja2 rendering the same templates
  with the same contexts (each role's own ``context`` function), and writing the same files
  (same count, same bytes, manifests included) with plain writes;
- **render**: ``bootstrap render INVENTORY -o DIR`` end to end, into a fresh directory;
- **rerender**: ``bootstrap render`` again into the render's directory, nothing changed;
- **inventory --list**: ``bootstrap inventory --list`` against ``ansible-inventory --list``.

The floor resolves groups and variables itself, in the few lines the generated inventory needs;
it uses none of bootstrap's inventory, validation, render or build code. Its output is compared
byte for byte with the render's, so both sides provably did the same work.

Printed besides the runs: ``startup_seconds`` (the checkout's example inventory rendered
again, nothing changed), ``rerender_seconds``, ``peak_rss_mb`` of the ``bootstrap render`` processes,
``cpu_per_host_growth`` (render CPU per host at N against 1,000 hosts, the fixed start-up cost,
a render of 50 hosts, taken out of both), ``inventory_list/ansible``, the ratios in CPU time, and
last ``ratio render/floor=X.XX rerender/floor=Y.YY`` (wall-clock). Every step starts after
``sync``; with ``--repeat`` the fastest run of each step counts.

    python benchmarks/render_fleet.py [--hosts N] [--repeat R] [--keep DIR] [--no-ansible]

It works in a temporary folder (``TMPDIR``, default /dev/shm when it exists). Creating 30,000
files costs the kernel very different amounts on different file systems: on ext4, minutes after
many files were deleted (an earlier run's clean-up, another program's), creating files can cost
ten times more system time. tmpfs measures bootstrap rather than the file system.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

GROUPS = 50
ENVIRONMENTS = ("production", "staging")
REGIONS = ("us_east", "us_west", "eu_west", "eu_central", "ap_south")
APPS = ("web", "api", "worker", "cache", "db", "queue", "search", "auth", "billing", "metrics")
ROLES = ["base"]  # built-in roles every generated host has
HOST_VARS_EVERY = 10  # one host in ten has a host_vars file
EXAMPLE = ROOT / "inventory"  # the example inventory of the README
FLEET = "_fleet"
MANIFEST = "manifest.json"
NL = "\n"


# -- the inventory --------------------------------------------------------------------------


def leaf_groups(hosts: int = GROUPS) -> list[tuple[str, str, str]]:
    """(group, region, environment) for the groups that hold the hosts: 50, fewer for a smaller
    fleet than that (every group holds a host)."""
    out = []
    for index in range(min(GROUPS, hosts)):
        region = REGIONS[index % len(REGIONS)]
        app = APPS[index // len(REGIONS) % len(APPS)]
        env = ENVIRONMENTS[0] if index % 4 else ENVIRONMENTS[1]
        out.append((f"{app}_{region}", region, env))
    return out


def host_name(group: str, index: int) -> str:
    return f"{group.replace('_', '-')}-{index:05d}.example.internal"


def generate(base: Path, hosts: int) -> int:
    """Write the inventory under ``base``; returns the number of files written."""
    groups = leaf_groups(hosts)
    members: dict[str, list[str]] = {g: [] for g, _, _ in groups}
    for index in range(hosts):
        group = groups[index % len(groups)][0]
        members[group].append(host_name(group, index))

    # Environments hold regions, regions hold the 50 groups: three levels below 'all'.
    tree: dict[str, Any] = {}
    for env in ENVIRONMENTS:
        regions: dict[str, Any] = {}
        for group, region, genv in groups:
            if genv != env:
                continue
            region_group = f"{region}_{env}"
            hosts_of = {}
            for number, name in enumerate(members[group]):
                octets = (number // 250 % 250, number % 250 + 1)
                inline: dict[str, Any] = {"ansible_host": f"10.{GROUPS}.{octets[0]}.{octets[1]}"}
                if number % 7 == 0:
                    inline["ansible_port"] = 2222
                hosts_of[name] = inline
            body = regions.setdefault(region_group, {"children": {}})
            body["children"][group] = {"hosts": hosts_of}
        tree[env] = {"children": regions, "vars": {"environment": env}}
    inventory = {"all": {"vars": {"ansible_user": "admin", "ansible_become": True},
                         "children": tree}}
    files = {"hosts.yml": inventory}

    files["group_vars/all.yml"] = {
        "bootstrap_roles": ROLES,
        "ntp_servers": [f"ntp{i}.example.internal" for i in range(1, 4)],
        "dns": {"resolvers": ["10.0.0.2", "10.0.0.3"], "search": ["example.internal"]},
        "users": [{"name": n, "uid": 2000 + i, "groups": ["wheel", "adm"],
                   "shell": "/bin/bash"} for i, n in enumerate(("alice", "bob", "carol"))],
        "sysctl": {"net.core.somaxconn": 4096, "vm.swappiness": 10},
    }
    for env in ENVIRONMENTS:
        files[f"group_vars/{env}.yml"] = {
            "log_level": "info" if env == "production" else "debug",
            "alerting": {"pagerduty": env == "production", "slack_channel": f"#ops-{env}"},
        }
        for region in REGIONS:
            files[f"group_vars/{region}_{env}.yml"] = {
                "aws_region": region.replace("_", "-") + "-1",
                "proxy": {"http": f"http://proxy.{region}.example.internal:3128",
                          "no_proxy": ["localhost", "127.0.0.1", ".example.internal"]},
            }
    for index, (group, region, _) in enumerate(groups):
        app = group.rsplit("_", 2)[0]
        files[f"group_vars/{group}.yml"] = {
            "bootstrap_roles": ROLES,  # repeated on purpose: the roles are a union
            "app": {
                "name": app,
                "port": 8000 + index,
                "replicas": 2 + index % 5,
                "limits": {"cpu": f"{1 + index % 4}", "memory": f"{512 * (1 + index % 8)}Mi"},
                "features": {f"flag_{k}": bool((index + k) % 2) for k in range(8)},
                "upstreams": [{"host": f"{app}-up{k}.{region}.example.internal",
                               "port": 9000 + k, "weight": k + 1} for k in range(3)],
            },
            "packages": [f"{app}-server", "curl", "jq", "rsync", f"python3-{app}"],
            "mounts": [{"path": f"/srv/{app}/{k}", "size_gb": 10 * (k + 1)} for k in range(2)],
            "snapshots": {"enabled": index % 3 == 0, "schedule": "0 3 * * *", "keep": 7},
        }
    for group, hosts_of in members.items():
        for number, name in enumerate(hosts_of):
            if number % HOST_VARS_EVERY == 0:
                files[f"host_vars/{name}.yml"] = {
                    "rack": f"r{number % 40:02d}",
                    "app": {"name": group.rsplit("_", 2)[0], "port": 8443,
                            "notes": f"canary of {group}"},
                    "maintenance_window": {"day": "sun", "start": "02:00", "hours": 2},
                }
    for rel, data in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    return len(files)


# -- the floor ------------------------------------------------------------------------------


class FloorTarget:
    """What a role's context function reads of a host (the fields of bootstrap's Target)."""

    __slots__ = ("basedir", "connection", "groups", "name", "roles", "settings", "vars")

    def __init__(self, name: str, groups: tuple[str, ...], values: dict[str, Any],
                 roles: tuple[str, ...], basedir: Path) -> None:
        self.name = name
        self.groups = groups
        self.vars = values
        self.roles = roles
        self.connection = None
        self.settings: dict[str, Any] = {}
        self.basedir = basedir


def _load(path: Path) -> Any:
    return yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)


def floor(inventory: Path, outdir: Path) -> int:
    """Parse, resolve, render and write what ``bootstrap render`` writes; returns files written."""
    from bootstrap.paths import builtin
    from bootstrap.render.filters import FILTERS

    group_files = {p.stem: _load(p) for p in sorted((inventory / "group_vars").glob("*.yml"))}
    host_files = {p.name[:-4]: _load(p) for p in sorted((inventory / "host_vars").glob("*.yml"))}
    parents: dict[str, list[str]] = {}
    inline: dict[str, dict[str, Any]] = {}
    host_inline: dict[str, dict[str, Any]] = {}
    host_groups: dict[str, list[str]] = {}

    def walk(name: str, body: dict[str, Any], parent: str | None) -> None:
        if parent is not None:
            parents.setdefault(name, []).append(parent)
        inline.setdefault(name, {}).update(body.get("vars") or {})
        for host, values in (body.get("hosts") or {}).items():
            host_groups.setdefault(host, []).append(name)
            host_inline[host] = values or {}
        for child, child_body in (body.get("children") or {}).items():
            walk(child, child_body or {}, name)

    for path in sorted(inventory.glob("*.yml")):
        for name, body in (_load(path) or {}).items():
            walk(name, body or {}, None)

    def depth(name: str) -> int:
        return 1 + max((depth(p) for p in parents.get(name, [])), default=-1)

    def lineage(name: str) -> list[str]:
        return [name] + [a for p in parents.get(name, []) for a in lineage(p)]

    chains: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Any], tuple[str, ...]]] = {}
    roles_dir = builtin("roles")
    specs = {name: _load(roles_dir / name / "role.yml") for name in ROLES}
    for name, spec in specs.items():
        for key in ("finalize", "fleet", "model"):
            if spec.get(key):
                raise SystemExit(f"the floor does not do role {name}'s {key}; update {__file__}")
    contexts = {name: _import(spec["context"], name) if spec.get("context") else None
                for name, spec in specs.items()}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(builtin("templates"))), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
        auto_reload=False)
    env.filters.update(FILTERS)

    templates = {name: [(art, env.get_template(art["template"]),
                         env.from_string(art["dest"]) if "{" in art["dest"] else None)
                        for art in specs[name].get("artifacts") or []] for name in specs}
    written = 0
    made: set[str] = set()
    for host, direct in host_groups.items():
        key = tuple(direct)
        chain = chains.get(key)
        if chain is None:
            names = {a for g in direct for a in lineage(g)} - {"all"}
            ordered = tuple(sorted(names, key=lambda g: (depth(g), 1, g)))
            merged: dict[str, Any] = {}
            roles: list[str] = []
            layers = [inline.get("all", {}), *(inline.get(g, {}) for g in ordered),
                      group_files.get("all", {}), *(group_files.get(g, {}) for g in ordered)]
            for layer in layers:
                merged.update(layer)
                roles.extend(r for r in layer.get("bootstrap_roles", []) if r not in roles)
            chain = chains[key] = (ordered, merged, tuple(roles))
        groups, merged, roles = chain
        values = {**merged, **host_inline[host], **host_files.get(host, {})}
        values["bootstrap_roles"] = list(roles)
        target = FloorTarget(host, groups, values, roles, inventory)
        folder = f"{outdir}/{host}"
        records = []
        for role in roles:
            context: dict[str, Any] = {"host": target, "vars": values, "settings": None}
            if contexts[role] is not None:
                context.update(contexts[role](target, None))
            for art, template, dest_template in templates[role]:
                if art.get("when") and not context.get(art["when"]):
                    continue
                dest = dest_template.render(context) if dest_template else art["dest"]
                data = template.render(context).encode()
                rel = f"files{dest}"
                mode = int(str(art.get("mode", "0644")), 8)
                _write(f"{folder}/{rel}", data, mode, made)
                written += 1
                records.append((dest, rel, mode, art.get("owner", "root:root"),
                                hashlib.sha256(data).hexdigest(), len(data), role,
                                _checks(art.get("check"))))
        apply = {role: specs[role]["apply"] for role in roles if specs[role].get("apply")}
        _write(f"{folder}/{MANIFEST}", _manifest(host, roles, records, apply), 0o644, made)
        written += 1
    _write(f"{outdir}/{FLEET}/{MANIFEST}", _manifest(FLEET, (), [], {}), 0o644, made)
    return written + 1


def _import(ref: str, role: str) -> Callable[..., dict[str, Any]]:
    module, _, attr = ref.partition(":")
    if module.endswith(".py"):  # a module of the role's own folder, bootstrap.roles.<role>
        module = f"bootstrap.roles.{role.replace('-', '_')}.{module[:-3]}"
    return getattr(importlib.import_module(module), attr)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def _write(path: str, data: bytes, mode: int, made: set[str]) -> None:
    folder = os.path.dirname(path)
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        while folder not in made and len(folder) > 1:
            made.add(folder)
            folder = os.path.dirname(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if mode & UMASK:  # bootstrap's modes are exact whatever the umask
            os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


_RECORD = ('    {{"check": {}, "dest": {}, "mode": "{:04o}", "owner": {}, "path": {}, '
           '"role": {}, "secret": false, "sha256": "{}", "size": {}}}')


def _checks(check: Any) -> list[str]:
    """An artifact's ``check`` of role.yml as the manifest lists it."""
    return [check] if isinstance(check, str) else list(check or [])


def _manifest(host: str, roles: tuple[str, ...], records: list[tuple[Any, ...]],
              apply: dict[str, str]) -> bytes:
    """The manifest bootstrap writes: sorted keys, one file record per line."""
    q = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
    files = ",\n".join(_RECORD.format(json.dumps(check), q(dest), mode, q(owner), q(rel),
                                       q(role), digest, size)
                       for dest, rel, mode, owner, digest, size, role, check in records)
    return ("{\n"
            f'  "apply": {json.dumps(apply, sort_keys=True)},\n'
            f'  "files": {f"[{NL}{files}{NL}  ]" if files else "[]"},\n'
            f'  "host": {q(host)},\n'
            '  "outputs": [],\n'
            f'  "roles": {json.dumps(list(roles))}\n'
            "}\n").encode()


# -- bootstrap render -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One command run as a child process: wall and CPU seconds, peak RSS, what it printed."""

    wall: float
    cpu: float
    rss_mb: float
    out: str


def _env(work: Path) -> dict[str, str]:
    """Children run as an installed package does: with compiled bytecode cached (a pip install
    compiles it), kept in the work folder rather than in the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def measure(command: list[str], env: dict[str, str], what: str) -> Measured:
    """Run ``command``; its own CPU time and peak RSS come from wait4, wall from the clock."""
    # Start each measurement clean: no dirty pages of an earlier one written back during it.
    os.sync()
    gc.collect()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said, complaints = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{what} exited {proc.returncode}:\n{complaints[-4000:]}{said[-2000:]}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, said)


def render(inventory: Path, outdir: Path, env: dict[str, str]) -> Measured:
    """``bootstrap render INVENTORY -o OUTDIR`` in a process of its own."""
    return measure([sys.executable, "-m", "bootstrap", "render", str(inventory), "-o",
                    str(outdir)], env, "bootstrap render")


def floor_process(inventory: Path, outdir: Path, env: dict[str, str]) -> Measured:
    """The floor in a process of its own, paying its interpreter and imports as render does."""
    return measure([sys.executable, __file__, "--floor", str(inventory), str(outdir)], env,
                   "the floor")


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for folder, folders, names in os.walk(root):
        if folder == str(root) and ".bootstrap" in folders:
            folders.remove(".bootstrap")  # the writer's lock and record, not rendered output
        for name in names:
            path = Path(folder, name)
            yield str(path.relative_to(root)), path


def compare(floor_dir: Path, render_dir: Path) -> tuple[int, int]:
    """Both trees hold the same files with the same bytes and modes; returns (files, bytes)."""
    ours = dict(_files(floor_dir))
    theirs = dict(_files(render_dir))
    if ours.keys() != theirs.keys():
        only = sorted(ours.keys() ^ theirs.keys())[:5]
        raise SystemExit(f"the floor and bootstrap wrote different files, e.g. {only}; "
                         f"update the floor in {__file__}")
    total = 0
    for rel, path in ours.items():
        data, other = path.read_bytes(), theirs[rel].read_bytes()
        if data != other or path.stat().st_mode != theirs[rel].stat().st_mode:
            raise SystemExit(f"the floor wrote {rel} differently from bootstrap; "
                             f"update the floor in {__file__}")
        total += len(data)
    return len(ours), total


@contextlib.contextmanager
def _workdir(keep: str | None) -> Iterator[Path]:
    """A new folder for this run. Nothing is deleted until every step has run: on ext4, creating
    files right after deleting thousands is many times slower (the allocator steps over recently
    deleted inodes), which would charge one step for the clean-up of another."""
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        yield Path(tempfile.mkdtemp(prefix="bootstrap-bench-", dir=keep))
    else:
        shm = "/dev/shm" if "TMPDIR" not in os.environ and os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="bootstrap-bench-", dir=shm) as tmp:
            yield Path(tmp)


def per_host_cpu(work: Path, env: dict[str, str], hosts: int, fixed: Measured) -> float:
    """CPU seconds per host of a first render of ``hosts`` hosts, the fixed start-up cost (a
    render of the smallest generated fleet, one host per group) taken out."""
    inventory, build = work / f"inventory-{hosts}", work / f"build-ref-{hosts}"
    generate(inventory, hosts)
    done = render(inventory, build, env)
    return (done.cpu - fixed.cpu) / (hosts - GROUPS)


def inventory_ratio(inventory: Path, env: dict[str, str]) -> tuple[Measured, Measured]:
    """``bootstrap inventory --list`` and ``ansible-inventory --list`` on the same inventory."""
    ours = measure([sys.executable, "-m", "bootstrap", "inventory", str(inventory), "--list"],
                   env, "bootstrap inventory --list")
    ansible = Path(sys.executable).with_name("ansible-inventory")
    theirs = measure([str(ansible), "-i", str(inventory), "--list"],
                     {**env, "ANSIBLE_INVENTORY_ENABLED": "yaml"}, "ansible-inventory --list")
    return ours, theirs


def startup(work: Path, env: dict[str, str]) -> tuple[int, float]:
    """The example inventory of the checkout rendered again with nothing changed: its host count
    and the fastest of three runs, the start-up a user waits for on a small inventory."""
    build = work / "build-example"
    render(EXAMPLE, build, env)
    runs = [render(EXAMPLE, build, env) for _ in range(3)]
    said = runs[-1].out.rsplit("\n", 2)[-2]
    return int(said.split()[0]), min(r.wall for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10_000, help="hosts to generate (10000)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each measurement; the fastest counts (1)")
    parser.add_argument("--keep", metavar="DIR",
                        help="work in a new folder under DIR and keep it "
                             "(inventory/, floor-N/, build-N/)")
    parser.add_argument("--no-ansible", action="store_true",
                        help="leave out the ansible-inventory comparison (slow at 100k hosts)")
    parser.add_argument("--floor", nargs=2, metavar=("INVENTORY", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor:  # the child process of floor_process
        floor(Path(args.floor[0]), Path(args.floor[1]))
        return 0
    if args.hosts < 1 or args.hosts > 1_000_000:
        parser.error("--hosts must be between 1 and 1000000")

    best: dict[str, Measured] = {}
    with _workdir(args.keep) as work:
        env = _env(work)
        inventory = work / "inventory"
        start = time.perf_counter()
        count = generate(inventory, args.hosts)
        print(f"inventory: {args.hosts} hosts in {len(leaf_groups(args.hosts))} groups, {count} "
              f"YAML files ({time.perf_counter() - start:.2f}s to generate) in {inventory}")
        # The smallest fleet first: its render also compiles every module's bytecode once,
        # which no later measurement should pay.
        generate(work / "inventory-fixed", GROUPS)
        render(work / "inventory-fixed", work / "build-warm", env)
        fixed = render(work / "inventory-fixed", work / "build-fixed", env)
        base = here = None
        if GROUPS < args.hosts != 1000:
            base = per_host_cpu(work, env, 1000, fixed)
        peak = 0.0
        for run in range(1, args.repeat + 1):
            floor_dir, build_dir = work / f"floor-{run}", work / f"build-{run}"
            steps = {"floor": partial(floor_process, inventory, floor_dir, env),
                     "render": partial(render, inventory, build_dir, env),
                     "rerender": partial(render, inventory, build_dir, env)}
            shown = []
            said: dict[str, Measured] = {}
            for name, step in steps.items():
                said[name] = done = step()
                if name not in best or done.wall < best[name].wall:
                    best[name] = done
                shown.append(f"{name} {done.wall:.2f}s (cpu {done.cpu:.2f}s, "
                             f"{done.rss_mb:.0f} MiB)")
                if name != "floor":
                    peak = max(peak, done.rss_mb)
            summary = f"{args.hosts} hosts rendered, 0 changed, {args.hosts} unchanged"
            if summary not in said["rerender"].out:
                raise SystemExit(f"the rerender changed files:\n{said['rerender'].out}")
            files, size = compare(floor_dir, build_dir)
            print(f"run {run}: {', '.join(shown)}; {files} files, {size} bytes on both sides")
            if args.hosts > GROUPS:
                cpu = (said["render"].cpu - fixed.cpu) / (args.hosts - GROUPS)
                here = cpu if here is None else min(here, cpu)
        growth = "n/a" if here is None else f"{here / (base or here):.2f}"
        if not args.no_ansible:
            ours, theirs = inventory_ratio(inventory, env)
            print(f"inventory --list: bootstrap {ours.wall:.2f}s, ansible-inventory "
                  f"{theirs.wall:.2f}s")
            print(f"inventory_list/ansible={ours.wall / theirs.wall:.2f}")
        if EXAMPLE.is_dir():
            hosts, seconds = startup(work, env)
            print(f"startup: the {hosts}-host example inventory/, nothing changed: "
                  f"startup_seconds={seconds:.2f}")
    print(f"rerender_seconds={best['rerender'].wall:.2f}")
    print(f"peak_rss_mb={peak:.0f}")
    print(f"cpu_per_host_growth={growth}")
    # CPU time leaves out waiting for the disk and for other processes: steadier on a busy
    # machine, but blind to the cost of I/O, which is why the ratios below are wall-clock.
    print(f"cpu: render/floor={best['render'].cpu / best['floor'].cpu:.2f} "
          f"rerender/floor={best['rerender'].cpu / best['floor'].cpu:.2f}")
    print(f"ratio render/floor={best['render'].wall / best['floor'].wall:.2f} "
          f"rerender/floor={best['rerender'].wall / best['floor'].wall:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
