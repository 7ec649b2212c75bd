"""The stability suite's judgement, on made-up series: trends, not single samples, decide."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lab import reasons
from lab.stability import judge
from lab.stability.chart import svg
from lab.stability.sampler import SCRIPT, Series, parse, summarise


def samples(values, fds=None, alive=None, step=1.0):
    out = []
    for i, v in enumerate(values):
        out.append(summarise(i * step, 1_700_000_000 + i * step, 10,
                             [] if alive is not None and not alive[i] else
                             parse(f"P 10 S 5 5 1 {v} {fds[i] if fds else 5}\n"), 100))
    return out


def test_a_steady_line_with_noise_passes():
    noisy = [1000, 1040, 990, 1010, 1030, 980, 1005, 1020, 995, 1010, 1000]
    g = judge.memory(samples(noisy), duration=10)
    assert g is not None and not g.exceeded
    assert abs(g.pct) < 5


def test_steady_growth_fails_even_when_each_step_is_small():
    growing = [1000 + 20 * i for i in range(11)]  # 2 % a second, 20 % over the window
    g = judge.memory(samples(growing), duration=10)
    assert g.exceeded and 17 < g.pct < 20
    assert "the limit is 5 %" in g.describe("KiB")


def test_one_spike_does_not_make_a_trend_but_a_late_step_up_does():
    spike = [1000] * 5 + [5000] + [1000] * 5
    assert not judge.memory(samples(spike), duration=10).exceeded
    step = [1000] * 6 + [1300] * 5
    assert judge.memory(samples(step), duration=10).exceeded


def test_the_warm_up_is_not_judged():
    warming = [200] + [1000] * 10
    s = samples(warming, step=10.0)
    assert judge.growth([(x.t, x.rss_kb) for x in s], floor=judge.RSS_FLOOR_KB).exceeded  # judged whole: a rise
    g = judge.memory(s, duration=100)  # the first 10 s are the warm-up
    assert g.n == 10 and not g.exceeded


def test_a_tiny_service_growing_a_few_pages_is_below_the_floor():
    tiny = [100 + 4 * i for i in range(11)]  # 40 % but 40 KiB
    assert not judge.memory(samples(tiny), duration=10).exceeded


def test_descriptor_leak_is_judged_with_its_own_floor():
    assert judge.descriptors(samples([1000] * 11, fds=[5 + i for i in range(11)]), 10).exceeded
    assert not judge.descriptors(samples([1000] * 11, fds=[5, 6, 5, 7, 5, 6, 5, 5, 6, 5, 6]), 10).exceeded


def test_too_few_samples_are_not_judged():
    assert judge.memory(samples([1000, 2000]), duration=1) is None


def test_death_is_found_between_the_last_sample_up_and_the_first_gone():
    s = samples([1000] * 6, alive=[True, True, True, True, False, False])
    d = judge.death(s)
    assert (d.after_s, d.at_s) == (3.0, 4.0)
    said = reasons.DIED.say(**d.figures(), duration="10", said="\nbye")
    assert said.startswith("the service died 3.0-4.0 s into the 10 s watch (found gone at ")
    assert judge.death(samples([1000] * 3)) is None


def test_parse_reads_only_well_formed_lines_and_counts_zombies_as_gone():
    out = "P 10 Z 1 1 1 0 0\nP 11 S 100 50 3 2048 7\ngarbage\nP x S 1 1 1 1 1\n"
    s = summarise(0, 0, 10, parse(out), 100)
    assert not s.leader_alive and s.pids == [11] and s.rss_kb == 2048 and s.fds == 7 and s.cpu_s == 1.52
    exiting = summarise(0, 0, 10, parse("P 10 R 1 1 1 - 0\n"), 100)  # memory already released
    assert not exiting.leader_alive and exiting.rss_kb == 0


def test_the_sampler_reads_stat_after_the_last_parenthesis():
    assert '${s##*") "}' in SCRIPT.format(members="", container="")  # the tree: from status (test_service_tree)


def test_a_container_s_memory_is_read_from_its_cgroup_and_judged_on_its_own_trend():
    """Hostile review: a worker that left the service's tree (a new session, a second fork, its
    environment cleared) grew 1 MiB a second and stability.memory passed at +0.0 %."""
    from lab.stability.sampler import container_kb

    assert container_kb("P 1 S 1 1 1 1 1\nC 3145728\n") == 3072 and container_kb("C -\n") is None
    assert container_kb("P 1 S 1 1 1 1 1\n") is None  # a board: no line
    series = samples([1000] * 11)
    for i, s in enumerate(series):
        s.container_kb = 8000 + 1024 * i
    grew = judge.container_memory(series, 10)
    assert grew is not None and grew.exceeded and not judge.memory(series, 10).exceeded
    assert judge.container_memory(samples([1000] * 11), 10) is None


def test_the_chart_is_a_picture_with_the_trend():
    series = Series(10, 10, 1, samples([1000 + 20 * i for i in range(11)]))
    text = svg(series, judge.memory(series.samples, 10), "acme <leak> on debian12")
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 4  # RSS, trend, fds, threads
    assert "&lt;leak&gt;" in text


class Killed:
    """A target where the first ``kills`` samples are killed by SIGKILL before they print."""

    name = "t"

    def __init__(self, kills: int):
        self.kills = kills

    def run(self, command, timeout=None):
        from lab.transport.base import CommandResult

        if self.kills:
            self.kills -= 1
            return CommandResult(command, 137, b"", b"", 0.0)
        return CommandResult(command, 0, b"LAB_PROC_READABLE\nP 10 S 100 50 3 2048 7\n", b"", 0.0)


def test_a_sample_the_service_killed_is_taken_again_then_is_the_products():
    """A review's leaking service killed the lab's sampler once, and its stability checks became
    the lab's fault (broken): a killed sample is taken again; killed twice, the product failed."""
    import pytest

    from lab.errors import ProductFailure
    from lab.stability.sampler import sample

    assert sample(Killed(1), 10, 3.0, 100, "ab12cd34ab12cd34").rss_kb == 2048
    with pytest.raises(ProductFailure, match=r"killed \(exit 137, signal 9\) twice at 3 s"):
        sample(Killed(2), 10, 3.0, 100, "ab12cd34ab12cd34")
