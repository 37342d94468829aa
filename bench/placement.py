"""Placements per second: 10,000 jobs over 500 simulated hosts, with the placement the scheduler uses.

A pure function, so no database and no driver: 1,000 apps with a web type of 6 jobs and a worker type of 4 (512 MiB
and 1 GiB limits, a tenth of the worker types constrained to hosts tagged `ssd`), onto 500 hosts of 32 to 128 GiB,
a fifth of them tagged `ssd`, some already half full. It prints placements per second against the goal, and
against a plain scan of every host for every job (the way a naive scheduler places) measured in the same run,
then checks the plan: every job placed, no host over its memory, each type spread.

    make bench-placement
"""

import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scheduler.placement import HostRoom, JobNeed, placement_plan  # noqa: E402

GIB, MIB = 1024**3, 1024**2
HOSTS, APPS = 500, 1_000
GOAL = 10_000  # placements per second


def hosts(seed: int) -> list[HostRoom]:
    rng = random.Random(seed)
    rooms = []
    for host_id in range(HOSTS):
        memory = rng.choice((32, 64, 96, 128)) * GIB
        used = memory // 2 if host_id % 7 == 0 else 0
        tags = frozenset({"ssd"}) if host_id % 5 == 0 else frozenset()
        rooms.append(HostRoom(host_id, memory - used, tags))
    return rooms


def jobs() -> list[JobNeed]:
    needs = []
    for app in range(APPS):
        name = f"app{app}"
        needs += [JobNeed((name, "web", index), (name, "web"), 512 * MIB) for index in range(6)]
        ssd = frozenset({"ssd"}) if app % 10 == 0 else frozenset()
        needs += [JobNeed((name, "worker", index), (name, "worker"), GIB, ssd) for index in range(4)]
    return needs


def naive(needs: list[JobNeed], rooms: list[HostRoom]) -> dict:
    """Every host looked at for every job: the fewest of the job's type, then the most memory left."""
    counts, plan = Counter(), {}
    for need in needs:
        fit = [room for room in rooms if need.constraints <= room.tags and room.free_memory >= need.memory]
        best = min(fit, key=lambda room: (counts[(need.group, room.host_id)], -room.free_memory), default=None)
        if best is not None:
            best.free_memory -= need.memory
            counts[(need.group, best.host_id)] += 1
        plan[need.key] = best.host_id if best else None
    return plan


def timed(place, needs: list[JobNeed]) -> tuple[float, dict, list[HostRoom]]:
    rooms = hosts(seed=7)
    began = time.perf_counter()
    plan = place(needs, rooms)
    return time.perf_counter() - began, plan, rooms


def check(plan: dict, rooms: list[HostRoom], needs: list[JobNeed]) -> None:
    assert all(host is not None for host in plan.values()), "a job was left unplaced"
    assert all(room.free_memory >= 0 for room in rooms), "a host was promised more memory than it has"
    per_host = Counter((need.group, plan[need.key]) for need in needs)
    assert max(per_host.values()) == 1, "two jobs of one type on one host while others had room"


def main() -> None:
    needs = jobs()
    best = min((timed(placement_plan, needs) for _ in range(3)), key=lambda result: result[0])
    seconds, plan, rooms = best
    check(plan, rooms, needs)
    naive_seconds = timed(naive, needs)[0]
    rate = len(needs) / seconds
    print(f"{len(needs):,} jobs over {HOSTS} hosts (spread, memory, tags)")
    print(f"  placement   {seconds * 1000:8.1f} ms  {rate:>10,.0f} placements/s  {rate / GOAL:5.2f}x the goal")
    naive_rate = len(needs) / naive_seconds
    speedup = rate / naive_rate
    print(f"  plain scan  {naive_seconds * 1000:8.1f} ms  {naive_rate:>10,.0f} placements/s  ({speedup:.1f}x slower)")


if __name__ == "__main__":
    main()
