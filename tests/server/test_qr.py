"""QR codes of enrollment links as SVG documents."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import segno

from server.qr import TITLE, qr_svg


def test_the_svg_is_a_document_with_a_title() -> None:
    """A standalone SVG (no XML declaration) with an accessible title."""
    svg = qr_svg("https://larm.example.se/enroll?code=ABCD-1234")
    assert svg.startswith("<svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert any(element.text == TITLE for element in root.iter() if element.tag.endswith("title"))


def test_the_code_encodes_the_link() -> None:
    """The symbol is segno's for exactly that link (medium error correction), and another
    link gives another symbol."""
    link = "http://testserver/enroll?code=XYZ"
    reference = io.BytesIO()
    segno.make(link, error="m", micro=False).save(
        reference,
        kind="svg",
        scale=8,
        border=4,
        dark="#000000",
        light="#ffffff",
        xmldecl=False,
        title=TITLE,
    )
    assert qr_svg(link) == reference.getvalue().decode()
    assert qr_svg(link + "1") != qr_svg(link)
