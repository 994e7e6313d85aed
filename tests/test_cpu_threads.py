"""Torch threads for a CPU training: the CPUs that other processes leave free."""

from __future__ import annotations

import pytest

from ssamt.train import cpu_threads
from ssamt.train.cpu_threads import cpu_times, free_cpus


def stat(ticks: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat text whose CPU n has (busy, idle) jiffies: user and idle columns."""
    total_busy = sum(b for b, _ in ticks.values())
    total_idle = sum(i for _, i in ticks.values())
    lines = [f"cpu  {total_busy} 0 0 {total_idle} 0 0 0 0 0 0"]
    lines += [f"cpu{n} {b} 0 0 {i} 0 0 0 0 0 0" for n, (b, i) in ticks.items()]
    return "\n".join([*lines, "intr 1234 5", "ctxt 99", "btime 1"]) + "\n"


def test_cpu_times_reads_each_cpu_and_counts_iowait_as_idle():
    text = "cpu  9 9 9 9 9 9 9 9\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 10 0 0 30 0 0 0 0\nintr 1\n"
    assert cpu_times(text) == {0: (1 + 2 + 3 + 6 + 7 + 8, 36), 1: (10, 40)}


def test_a_cpu_kept_busy_by_another_process_is_not_free():
    before = stat({0: (100, 100), 1: (100, 100)})
    one_busy = stat({0: (129, 101), 1: (101, 129)})  # cpu0 busy 29 of 30 ticks
    assert free_cpus(before, one_busy, {0, 1}) == 1
    assert free_cpus(before, one_busy, {0}) == 0  # only the busy one is ours
    both_idle = stat({0: (101, 129), 1: (102, 128)})
    assert free_cpus(before, both_idle, {0, 1}) == 2
    both_busy = stat({0: (130, 100), 1: (128, 102)})
    assert free_cpus(before, both_busy, {0, 1}) == 0
    assert free_cpus(before, before, {0, 1}) == 2  # no ticks between: free
    assert free_cpus(before, one_busy, {0, 1, 7}) == 2  # a CPU /proc/stat lacks: free


def test_the_users_choice_and_distributed_runs_are_kept(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads.training_threads(0.0) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cpu_threads.training_threads(0.0) is None


def test_at_least_one_thread_even_when_every_cpu_is_busy(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    texts = iter([stat({0: (0, 0), 1: (0, 0)}), stat({0: (30, 0), 1: (30, 0)})])

    class Stat:
        def read_text(self):
            return next(texts)

    monkeypatch.setattr(cpu_threads, "PROC_STAT", Stat())
    monkeypatch.setattr(cpu_threads.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpu_threads.training_threads(0.0) == 1


def test_use_free_cpus_only_lowers_torch_threads_with_a_note(monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    from ssamt.commands import common

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(cpu_threads, "training_threads", lambda: 1)
        common.use_free_cpus("cpu")
        assert torch.get_num_threads() == 1
        assert "1 of 2 CPUs busy with other work: training with 1 torch thread" in \
            capsys.readouterr().err
        torch.set_num_threads(1)
        monkeypatch.setattr(cpu_threads, "training_threads", lambda: 4)
        common.use_free_cpus("cpu")  # never more than torch's own default
        assert torch.get_num_threads() == 1 and capsys.readouterr().err == ""
    finally:
        torch.set_num_threads(before)


def test_a_proc_stat_of_another_shape_leaves_torch_s_choice(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    class Stat:
        def read_text(self):
            return "cpu0 12 x\ncpu1 3\n"

    monkeypatch.setattr(cpu_threads, "PROC_STAT", Stat())
    assert cpu_threads.training_threads(0.0) is None
