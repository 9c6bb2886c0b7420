"""The drill report's chart, "andel nådda över tid": an SVG document drawn from a
reachability report (server/core/reachability.py) by pure code, so the server renders it
and no chart library or script reaches the browser.

Three cumulative step lines over the report's devices: the share (%) that had the alert
delivered, displayed and answered, against seconds since the trigger. Each line has its own
colour (contrast at least 4.5:1 on white, WCAG AA for text as well as graphics) and its own
dash pattern, so the chart also reads in black and white and without colour vision. The
document has `role="img"`, a `<title>` and a `<desc>` that says the figures in words, axis
labels and a legend; it is sized in millimetres to fit an A4 page with margins. It contains
no script and every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from protocol.vocabulary import Language

WIDTH, HEIGHT = 800, 450
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 60, 120
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
INK = "#1f2937"  # axes and text: 14.7:1 on white
GRID = "#d1d5db"
# Seconds between x ticks, the first that leaves at most 10 intervals.
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


@dataclass(frozen=True)
class Series:
    """One line: which device time it draws, its colour and dash pattern."""

    key: str  # the device field, e.g. delivered_ms
    colour: str
    dash: str  # stroke-dasharray; "" is solid
    label: Mapping[Language, str]


SERIES = (
    Series("delivered_ms", "#0b5394", "", {Language.SV: "Levererat", Language.EN: "Delivered"}),
    Series("displayed_ms", "#a3480a", "12 6", {Language.SV: "Visat", Language.EN: "Displayed"}),
    Series("answered_ms", "#166534", "3 5", {Language.SV: "Besvarat", Language.EN: "Answered"}),
)

TEXTS: Mapping[Language, Mapping[str, str]] = {
    Language.SV: {
        "title": "Andel nådda över tid",
        "x": "Sekunder efter larmet",
        "y": "Andel enheter (%)",
        "none": "Inga enheter i rapporten",
        "desc": "Larm {alert} ({mode}): andel av {devices} enheter som fått larmet "
        "levererat, visat och besvarat, över sekunder efter att det utlöstes. "
        "Levererat: {delivered} av {devices}. Visat: {displayed}. Besvarat: {answered}.",
        "actual": "skarpt",
        "drill": "övning",
        "test": "test",
    },
    Language.EN: {
        "title": "Share reached over time",
        "x": "Seconds after the alert",
        "y": "Share of devices (%)",
        "none": "No devices in the report",
        "desc": "Alert {alert} ({mode}): share of {devices} devices that had the alert "
        "delivered, displayed and answered, over seconds after it was triggered. "
        "Delivered: {delivered} of {devices}. Displayed: {displayed}. Answered: {answered}.",
        "actual": "actual",
        "drill": "drill",
        "test": "test",
    },
}


def _devices(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [device for site in report["sites"].values() for device in site["devices"]]


def _step(longest_s: float) -> int:
    return next((step for step in _STEPS if longest_s / step <= 10), _STEPS[-1])


def _x(seconds: float, span: float) -> float:
    return LEFT + PLOT_W * min(seconds, span) / span


def _y(share: float) -> float:
    return TOP + PLOT_H * (1 - share)


def _path(times_ms: Sequence[int], total: int, span: float) -> str:
    """A cumulative step line: flat at 0 until the first time, up by 1/total at each."""
    points = [f"M{_x(0, span):.1f},{_y(0):.1f}"]
    for index, value in enumerate(sorted(times_ms), start=1):
        points.append(f"H{_x(value / 1000, span):.1f}")
        points.append(f"V{_y(index / total):.1f}")
    points.append(f"H{_x(span, span):.1f}")
    return "".join(points)


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(
        f" {name.replace('_', '-')}={quoteattr(value)}" for name, value in attributes.items()
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def chart_svg(report: Mapping[str, Any], *, language: Language = Language.SV) -> str:
    """The chart of `report` as a standalone SVG document, in `language`."""
    texts = TEXTS[language]
    devices = _devices(report)
    total = len(devices)
    times = {
        series.key: [
            int(device[series.key]) for device in devices if device[series.key] is not None
        ]
        for series in SERIES
    }
    longest = max((value for values in times.values() for value in values), default=0) / 1000
    step = _step(max(longest, 10.0))
    span = float(step * max(1, -(-max(longest, 10.0) // step)))
    mode = texts.get(str(report.get("mode")), str(report.get("mode")))
    description = texts["desc"].format(
        alert=report["alert_id"],
        mode=mode,
        devices=total,
        delivered=len(times["delivered_ms"]),
        displayed=len(times["displayed_ms"]),
        answered=len(times["answered_ms"]),
    )
    title = f"{texts['title']} — {report['alert_id']} ({mode})"
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" role="img" '
        f'width="170mm" height="{170 * HEIGHT / WIDTH:.1f}mm" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="chart-title chart-desc" lang="{language.value}" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="14">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        _text(LEFT, 30, title, fill=INK, font_size="18", font_weight="bold"),
    ]
    for percent in range(0, 101, 20):
        y = _y(percent / 100)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_W}" y2="{y:.1f}" '
            f'stroke="{GRID if percent else INK}" stroke-width="1"/>'
        )
        parts.append(_text(LEFT - 8, y + 5, f"{percent}", fill=INK, text_anchor="end"))
    seconds = 0
    while seconds <= span:
        x = _x(seconds, span)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP + PLOT_H}" x2="{x:.1f}" y2="{TOP + PLOT_H + 6}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )
        parts.append(_text(x, TOP + PLOT_H + 22, f"{seconds}", fill=INK, text_anchor="middle"))
        seconds += step
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" stroke="{INK}"/>')
    parts.append(
        _text(LEFT + PLOT_W / 2, TOP + PLOT_H + 48, texts["x"], fill=INK, text_anchor="middle")
    )
    parts.append(
        f'<text x="0" y="0" fill="{INK}" text-anchor="middle" '
        f'transform="translate(22 {TOP + PLOT_H / 2:.1f}) rotate(-90)">{escape(texts["y"])}</text>'
    )
    if total == 0:
        parts.append(
            _text(
                LEFT + PLOT_W / 2, TOP + PLOT_H / 2, texts["none"], fill=INK, text_anchor="middle"
            )
        )
    for index, series in enumerate(SERIES):
        label = series.label[language]
        if total:
            dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
            parts.append(
                f'<path d="{_path(times[series.key], total, span)}" fill="none" '
                f'stroke="{series.colour}" stroke-width="3"{dash}>'
                f"<title>{escape(label)}</title></path>"
            )
        x = LEFT + index * 200
        y = HEIGHT - 30
        dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
        parts.append(
            f'<line x1="{x}" y1="{y - 5}" x2="{x + 40}" y2="{y - 5}" '
            f'stroke="{series.colour}" stroke-width="3"{dash}/>'
        )
        count = len(times[series.key])
        parts.append(_text(x + 48, y, f"{label} ({count}/{total})", fill=series.colour))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
