"""Placement: which host each job due to start goes to.

`placement_plan` is a pure function of the jobs to place and the hosts that may take them. A job may go to a host
that has every tag its process type's constraints name and room for its memory limit; of those, to the one that
runs the fewest jobs of its app's process type (spread), then to the one with the most memory left. Drained
hosts and hosts that are down are not offered at all.

It stays fast with many jobs and hosts: the jobs of one app's process type share a heap of the hosts they may use,
ordered by (their jobs there, memory left); an entry that another group's placement made stale (less memory
left) is corrected when it comes to the top.
"""

import heapq
from collections import Counter
from dataclasses import dataclass, field

UNKNOWN_MEMORY = 2**62  # a host that did not say how much memory it has: room for anything


@dataclass
class HostRoom:
    """A host that may take jobs: the memory it has left (bytes, after the limits of the jobs it runs), its tags."""

    host_id: int
    free_memory: int = UNKNOWN_MEMORY
    tags: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class JobNeed:
    """A job to place: `key` names it to the caller; its jobs are spread within `group` (app, process type)."""

    key: object
    group: tuple[str, str]
    memory: int = 0
    constraints: frozenset[str] = frozenset()


def placement_plan(
    needs: list[JobNeed], rooms: list[HostRoom], running: dict[tuple[tuple[str, str], int], int] | None = None
) -> dict[object, int | None]:
    """Job key -> the host id it goes to, or None when no host may take it. `running` counts the jobs of each
    group already on each host; `rooms` are updated with the memory the plan promises."""
    by_id = {room.host_id: room for room in rooms}
    counts = Counter(running or {})
    heaps: dict[tuple, list] = {}
    plan = {}
    for need in needs:
        shape = (need.group, need.constraints, need.memory)
        heap = heaps.get(shape)
        if heap is None:
            heap = heaps[shape] = _candidates(need, rooms, counts)
        plan[need.key] = _take(heap, need, by_id, counts)
    return plan


def _candidates(need: JobNeed, rooms: list[HostRoom], counts: Counter) -> list[tuple[int, int, int]]:
    heap = [
        (counts[(need.group, room.host_id)], -room.free_memory, room.host_id)
        for room in rooms
        if need.constraints <= room.tags
    ]
    heapq.heapify(heap)
    return heap


def _take(heap: list[tuple[int, int, int]], need: JobNeed, rooms: dict[int, HostRoom], counts: Counter) -> int | None:
    while heap:
        count, negative_free, host_id = heap[0]
        room, placed = rooms[host_id], counts[(need.group, host_id)]
        if -negative_free != room.free_memory or count != placed:  # another group (or shape) has used it since
            heapq.heapreplace(heap, (placed, -room.free_memory, host_id))
        elif room.free_memory < need.memory:
            heapq.heappop(heap)  # too full for this group's jobs, which all need as much
        else:
            room.free_memory -= need.memory
            counts[(need.group, host_id)] += 1
            heapq.heapreplace(heap, (placed + 1, -room.free_memory, host_id))
            return host_id
    return None
