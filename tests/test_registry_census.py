"""The census lists one live primitive per kind and name: replaced or retired ones leave."""

from __future__ import annotations

import threading
from pathlib import Path

from rebellion import CircuitBreaker
from rebellion._registry import Registry, registry


class _Thing:
    kind = "thing"

    def __init__(self, name: str) -> None:
        self.name = name

    def stats(self) -> dict[str, str]:
        return {"name": self.name}


def test_a_newer_instance_with_the_same_name_replaces_the_older_one() -> None:
    reg = Registry()
    old, new, other = _Thing("x"), _Thing("x"), _Thing("y")
    for thing in (old, other, new):
        reg.track(thing)
    assert list(reg) == [other, new]
    assert [e["name"] for e in reg.snapshot()] == ["y", "x"]


def test_a_named_primitive_wins_over_an_unnamed_twin() -> None:
    reg = Registry()
    named = reg.get_or_create("thing", "x", lambda: _Thing("x"), {})
    reg.track(_Thing("x"))
    assert list(reg) == [named]


def test_retire_drops_a_primitive_from_listings() -> None:
    reg = Registry()
    thing = _Thing("x")
    reg.track(thing)
    reg.retire(thing)
    assert list(reg) == []


def test_rebuilt_breakers_leave_one_row_in_the_process_registry() -> None:
    keep = [CircuitBreaker(name="census-rebuilt") for _ in range(3)]
    rows = [e for e in registry.snapshot() if e["name"] == "census-rebuilt"]
    assert len(rows) == 1
    assert next(p for p in registry if p.name == "census-rebuilt") is keep[-1]


def test_tracking_from_many_threads_keeps_one_row_per_name() -> None:
    reg = Registry()
    held: list[_Thing] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        for _ in range(200):
            thing = _Thing(f"n{index % 4}")
            with lock:
                held.append(thing)
            reg.track(thing)
            list(reg)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e["name"] for e in reg.snapshot()) == ["n0", "n1", "n2", "n3"]


def test_a_closed_queue_leaves_the_listing(tmp_path: Path) -> None:
    from rebellion.durable.queue.sqlite import PersistentRequestQueue

    queue = PersistentRequestQueue(str(tmp_path / "q.db"), name="census-closed-queue")
    assert any(e["name"] == "census-closed-queue" for e in registry.snapshot())
    queue.close()
    assert not any(e["name"] == "census-closed-queue" for e in registry.snapshot())
