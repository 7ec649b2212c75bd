"""Judging a watched service's samples: did it stay up, does its memory or its descriptor count
keep growing. Pure functions of the samples, so they are tested without a target.

Growth is judged on a trend, not on one sample (openEuler's long-run criterion: the fluctuation
stays within 5 %): a least-squares line through the samples after a warm-up, and the growth that
line shows over the window, against its value at the window's start. A service that allocates once
and then holds its memory passes; one that grows a little every second fails, however noisy the
single samples are. A floor keeps a tiny service's few pages (or one more socket) from counting.

Example::

    g = growth([(0, 1000), (1, 1100), (2, 1200)], limit_pct=5, floor=64)
    g.exceeded, g.pct        # True, 20.0
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lab.stability.sampler import Sample

LIMIT_PCT = 5.0          # openEuler: at most 5 % over the run
RSS_FLOOR_KB = 64        # 16 pages: below this, growth is noise whatever the percentage
FD_FLOOR = 4             # descriptors: a connection or two more is not a leak
WARMUP_SHARE = 0.1       # the first tenth of the watch is not judged...
WARMUP_MAX_S = 600.0     # ...but never more than ten minutes of it
MIN_SAMPLES = 3          # a line through fewer says nothing


@dataclass(frozen=True)
class Growth:
    n: int                 # samples judged
    baseline: float        # the trend's value at the window's start
    growth: float          # the trend's rise over the window (units of the series)
    window_s: float
    limit_pct: float
    floor: float

    @property
    def pct(self) -> float:
        return 100.0 * self.growth / self.baseline if self.baseline > 0 else (0.0 if self.growth <= 0 else 100.0)

    @property
    def exceeded(self) -> bool:
        return self.growth > self.floor and self.pct > self.limit_pct

    def figures(self) -> dict[str, str]:
        """Its numbers as said, by ``describe`` and by the reasons' wordings (``lab.reasons``)."""
        return {"window": f"{self.window_s:.0f}", "n": str(self.n), "start": f"{self.baseline:.0f}",
                "end": f"{self.baseline + self.growth:.0f}", "growth": f"{self.growth:+.0f}",
                "pct": f"{self.pct:+.1f} %", "limit": f"{self.limit_pct:g} %", "floor": f"{self.floor:g}"}

    def describe(self, unit: str) -> str:
        f = self.figures()
        return (f"trend over {f['window']} s ({f['n']} samples after the warm-up): {f['start']} {unit} -> "
                f"{f['end']} {unit}, {f['growth']} {unit} ({f['pct']}; the limit is {f['limit']} and at least "
                f"{f['floor']} {unit})")


def least_squares(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the line fitting ``points`` best; a flat line when x does not vary."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


def warmup(duration: float) -> float:
    return min(WARMUP_SHARE * duration, WARMUP_MAX_S)


def window(samples: list[Sample], duration: float) -> list[Sample]:
    """The samples judged: after the warm-up, while the service was up."""
    start = warmup(duration)
    return [s for s in samples if s.t >= start and s.leader_alive]


def growth(points: list[tuple[float, float]], limit_pct: float = LIMIT_PCT, floor: float = 0.0) -> Growth | None:
    """The trend's growth over ``points`` (t, value); None when there are too few to draw one."""
    if len(points) < MIN_SAMPLES:
        return None
    slope, intercept = least_squares(points)
    t0, t1 = points[0][0], points[-1][0]
    baseline = slope * t0 + intercept
    if baseline <= 0:
        baseline = max(points[0][1], 0.0)
    return Growth(len(points), baseline, slope * (t1 - t0), t1 - t0, limit_pct, floor)


def memory(samples: list[Sample], duration: float) -> Growth | None:
    return growth([(s.t, float(s.rss_kb)) for s in window(samples, duration)], floor=RSS_FLOOR_KB)


def container_memory(samples: list[Sample], duration: float) -> Growth | None:
    """The container's anonymous memory (every process in it, the service's tree or not); None on
    a board, or with too few samples."""
    return growth([(s.t, float(s.container_kb)) for s in window(samples, duration) if s.container_kb is not None],
                  floor=RSS_FLOOR_KB)


def descriptors(samples: list[Sample], duration: float) -> Growth | None:
    return growth([(s.t, float(s.fds)) for s in window(samples, duration)], floor=FD_FLOOR)


@dataclass(frozen=True)
class Death:
    at_s: float            # seconds into the watch of the first sample that found it gone
    after_s: float         # ...and of the last that found it up
    wall: float

    def figures(self) -> dict[str, str]:
        """When, as said by the reasons' wordings (``lab.reasons.DIED``)."""
        return {"after": f"{self.after_s:.1f}", "at": f"{self.at_s:.1f}",
                "when": dt.datetime.fromtimestamp(self.wall, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}


def death(samples: list[Sample]) -> Death | None:
    """When the service's own process was first found gone; None when it stayed up."""
    last_up = 0.0
    for s in samples:
        if not s.leader_alive:
            return Death(s.t, last_up, s.wall)
        last_up = s.t
    return None
