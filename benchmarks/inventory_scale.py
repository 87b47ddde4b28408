"""Whether loading and resolving an inventory grows linearly where Ansible's shapes get large.

Two shapes, each at a size N and at 4N, timed in this process (CPU time, best of ``--repeat``):

- **one group**: N hosts in one group, half of them also in a second group;
- **many groups**: 20 hosts, each in N/20 groups of one depth and priority that all set one key
  (the tie check between same-rank groups looks at every key of every group).

The last line is ``ratio group4x/group1x=X.XX groups4x/groups1x=Y.YY``: about 4 means linear,
about 16 quadratic.

    python benchmarks/inventory_scale.py [--hosts N] [--repeat R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bootstrap.inventory.loading import Inventory


def one_group(folder: Path, hosts: int) -> Path:
    lines = ["all:", "  children:", "    web:", "      hosts:"]
    lines += [f"        web{i:06}:" for i in range(hosts)]
    lines += ["    even:", "      hosts:"] + [f"        web{i:06}:" for i in range(0, hosts, 2)]
    path = folder / f"one-group-{hosts}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def many_groups(folder: Path, groups: int) -> Path:
    lines = ["all:", "  children:"]
    for group in range(groups):
        lines += [f"    g{group:06}:", "      vars:", f"        own{group}: {group}",
                  "        shared: same", "      hosts:"]
        lines += [f"        h{host:02}:" for host in range(20)]
    path = folder / f"many-groups-{groups}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def load_and_resolve(path: Path) -> None:
    inventory = Inventory(path)
    for host in inventory.hosts.values():
        inventory.resolve(host)
        inventory.conflicts(host)


def best(step: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000, help="N (default 10,000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, large = args.hosts, args.hosts * 4
        timings = {}
        for label, make, size in [("group1x", one_group, small), ("group4x", one_group, large),
                                  ("groups1x", many_groups, small // 20),
                                  ("groups4x", many_groups, large // 20)]:
            path = make(folder, size)
            timings[label] = best(lambda p=path: load_and_resolve(p), args.repeat)
            print(f"{label}: {timings[label]:.2f} s CPU")
    print(f"ratio group4x/group1x={timings['group4x'] / timings['group1x']:.2f} "
          f"groups4x/groups1x={timings['groups4x'] / timings['groups1x']:.2f}")


if __name__ == "__main__":
    main()
