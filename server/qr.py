"""QR codes as SVG documents, drawn with `segno` (a well-kept pure-Python QR encoder): the
dashboard shows an enrollment link as a QR code a phone's camera opens, without a QR
library in the browser. Pure: text in, SVG text out."""

from __future__ import annotations

import io

import segno

# Medium error correction: a code on a screen or a printout still reads when partly glossy.
ERROR_CORRECTION = "m"
SCALE = 8  # SVG units per module; the SVG scales anyway
BORDER = 4  # the quiet zone the QR standard asks for, in modules
TITLE = "QR-kod: länk för att registrera en enhet"


def qr_svg(text: str, *, title: str = TITLE) -> str:
    """An SVG document (no XML declaration) of a QR code encoding `text`, black on white."""
    code = segno.make(text, error=ERROR_CORRECTION, micro=False)
    buffer = io.BytesIO()
    code.save(
        buffer,
        kind="svg",
        scale=SCALE,
        border=BORDER,
        dark="#000000",
        light="#ffffff",
        xmldecl=False,
        title=title,
        encoding="utf-8",
    )
    return buffer.getvalue().decode("utf-8")
