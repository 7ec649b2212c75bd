"""The watch as a picture: memory with its judged trend, descriptors and threads, over time.

A small SVG written here rather than a plotting library: two line panels need no dependency, and
the file opens in any browser and in the Allure report.
"""

from __future__ import annotations

from html import escape

from lab.stability.judge import Growth, least_squares, window
from lab.stability.sampler import Series

W, H, PAD_L, PAD_R, PAD_T, PANEL, GAP = 720, 430, 70, 20, 30, 150, 50


def _scale(lo: float, hi: float, top: float, height: float):
    span = (hi - lo) or 1.0
    return lambda v: top + height - (v - lo) / span * height


def _panel(out: list[str], top: float, title: str, t_max: float, lines: list[tuple[str, list[tuple[float, float]]]],
           dashed: list[tuple[float, float]] | None = None) -> None:
    values = [v for _, pts in lines for _, v in pts] + [v for _, v in dashed or []]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    y = _scale(lo, hi, top, PANEL)
    x = lambda t: PAD_L + t / (t_max or 1.0) * (W - PAD_L - PAD_R)  # noqa: E731
    out.append(f'<text x="{PAD_L}" y="{top - 8}" font-size="13" font-weight="bold">{escape(title)}</text>')
    out.append(f'<rect x="{PAD_L}" y="{top}" width="{W - PAD_L - PAD_R}" height="{PANEL}" fill="none" stroke="#bbb"/>')
    for t in (0.0, t_max / 2, t_max):
        out.append(f'<text x="{x(t):.1f}" y="{top + PANEL + 13}" font-size="10" text-anchor="middle">{t:.0f}</text>')
    for v in (lo, (lo + hi) / 2, hi):
        out.append(f'<text x="{PAD_L - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:.0f}</text>')
    colours = ["#1f77b4", "#2ca02c", "#9467bd"]
    for i, (label, pts) in enumerate(lines):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colours[i % 3]}" stroke-width="2"/>')
        out.append(f'<text x="{W - PAD_R - 70 * (len(lines) - 1 - i)}" y="{top - 8}" font-size="11" '
                   f'text-anchor="end" fill="{colours[i % 3]}">{escape(label)}</text>')
    if dashed:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in dashed)
        out.append(f'<polyline points="{path}" fill="none" stroke="#d62728" stroke-width="1.5" '
                   'stroke-dasharray="6,4"/>')


def svg(series: Series, mem: Growth | None, title: str) -> str:
    """The chart of ``series``; the judged memory trend dashed in red when there is one."""
    samples = series.samples
    t_max = max([s.t for s in samples] + [series.duration])
    trend = None
    if mem is not None:
        judged = window(samples, series.duration)
        slope, icpt = least_squares([(s.t, float(s.rss_kb)) for s in judged])
        trend = [(judged[0].t, slope * judged[0].t + icpt), (judged[-1].t, slope * judged[-1].t + icpt)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="16" font-size="14" text-anchor="middle">{escape(title)}</text>']
    _panel(out, PAD_T + 20, "resident memory (KiB)" + (f", trend {mem.pct:+.1f} %" if mem else ""), t_max,
           [("RSS", [(s.t, float(s.rss_kb)) for s in samples])], trend)
    _panel(out, PAD_T + 20 + PANEL + GAP, "open descriptors and threads", t_max,
           [("fds", [(s.t, float(s.fds)) for s in samples]), ("threads", [(s.t, float(s.threads)) for s in samples])])
    out.append(f'<text x="{W / 2}" y="{H - 6}" font-size="11" text-anchor="middle">seconds into the watch '
               f'({len(samples)} samples every {series.interval:g} s)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
