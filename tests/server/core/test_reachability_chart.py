"""The drill report's SVG chart: well-formed, accessible, escaped, no script, in both
languages, with the cumulative lines the report's devices give."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from protocol.vocabulary import Language
from server.core.reachability_chart import HEIGHT, LEFT, PLOT_H, PLOT_W, SERIES, TOP, chart_svg

NS = "{http://www.w3.org/2000/svg}"


def device(
    delivered: int | None, displayed: int | None = None, answered: int | None = None
) -> dict[str, Any]:
    return {"delivered_ms": delivered, "displayed_ms": displayed, "answered_ms": answered}


def report(*devices: dict[str, Any], mode: str = "drill") -> dict[str, Any]:
    return {"alert_id": 12, "mode": mode, "sites": {"1": {"devices": list(devices)}}}


def contrast(colour: str) -> float:
    """WCAG contrast ratio of `colour` against white."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def test_the_chart_is_an_accessible_svg_in_swedish() -> None:
    """role=img, <title> and <desc> with the figures, Swedish axis labels and legend."""
    svg = chart_svg(report(device(1000, 2000, 5000), device(3000), device(None)))
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    assert root.get("width", "").endswith("mm")
    title = root.find(f"{NS}title")
    desc = root.find(f"{NS}desc")
    assert title is not None and "Andel nådda över tid" in (title.text or "")
    assert desc is not None and "Levererat: 2 av 3" in (desc.text or "")
    texts = " ".join(t.text or "" for t in root.iter(f"{NS}text"))
    for label in (
        "Sekunder efter larmet",
        "Andel enheter (%)",
        "Levererat (2/3)",
        "Visat (1/3)",
        "Besvarat (1/3)",
    ):
        assert label in texts


def test_english_by_language() -> None:
    """language=en: English title, axes and legend."""
    svg = chart_svg(report(device(1000)), language=Language.EN)
    assert "Share reached over time" in svg and "Seconds after the alert" in svg
    assert "Delivered (1/1)" in svg and "Andel" not in svg


def test_lines_climb_to_the_share_reached() -> None:
    """The delivered line ends at 2 of 4 devices: half the plot's height."""
    svg = chart_svg(report(device(1000), device(2000), device(None), device(None)))
    root = ET.fromstring(svg)
    paths = [p.get("d", "") for p in root.iter(f"{NS}path")]
    assert len(paths) == len(SERIES)
    heights = [float(v) for v in re.findall(r"V([\d.]+)", paths[0])]
    assert heights[-1] == TOP + PLOT_H * 0.5
    assert paths[0].startswith(f"M{LEFT:.1f},{TOP + PLOT_H:.1f}")
    assert paths[0].endswith(f"H{LEFT + PLOT_W:.1f}")


def test_no_devices_says_so() -> None:
    """Without devices there are no lines and a note."""
    svg = chart_svg(report())
    assert "Inga enheter i rapporten" in svg and "<path" not in svg
    ET.fromstring(svg)


def test_no_script_and_every_text_escaped() -> None:
    """A hostile mode string is escaped; no script, no event handler, no foreignObject."""
    svg = chart_svg(report(device(1), mode='<script>alert(1)</script>"&'))
    assert "<script" not in svg.lower() and "onload" not in svg.lower()
    assert "foreignObject" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)


def test_colours_meet_wcag_aa_on_white() -> None:
    """Every line colour has at least 4.5:1 contrast on white and its own dash pattern."""
    assert all(contrast(series.colour) >= 4.5 for series in SERIES)
    assert len({series.dash for series in SERIES}) == len(SERIES)
    assert HEIGHT > TOP + PLOT_H


def test_a_long_drill_gets_coarser_ticks() -> None:
    """Ten minutes of answers: the x axis reaches past the last one in at most 10 steps."""
    svg = chart_svg(report(device(600_000)))
    ticks = [
        int(t.text or "0")
        for t in ET.fromstring(svg).iter(f"{NS}text")
        if t.get("text-anchor") == "middle" and (t.text or "").isdigit()
    ]
    assert ticks[0] == 0 and ticks[-1] >= 600 and len(ticks) <= 11
