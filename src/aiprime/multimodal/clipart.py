"""The openclipart drawings (Debian `openclipart-svg`, public domain): SVGs titled in their own metadata, read
in place.

Each drawing's RDF block (`<metadata><rdf:RDF><cc:Work>`) names it with `dc:title` and tags it with
`dc:subject` keywords; the publisher's and creator's `cc:Agent` blocks carry a `dc:title` too, which is not
the drawing's. Parsing goes through defusedxml (no entities, no external references) and stops at the end of
the work's block, so a large drawing is not read whole; a file over MAX_SVG_BYTES is skipped. The drawings
are a second image -> caption data set beside the Tux Paint stamps (`bench/clipart_retrieval.py`), once the
titles that name a collection rather than a drawing are left out (`captioned`): titles are short, sometimes not
English, and the drawings are flat clip art.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from aiprime.multimodal.stamps import require_installed

CLIPART_PACKAGE = "openclipart-svg"
MAX_SVG_BYTES = 2_000_000  # larger drawings are skipped (the image route's own bound is 20 MB)
NO_KEYWORD = "unsorted"  # the package's placeholder subject
# A title shared by more drawings names their collection ("gramastar": 1,375 drawings, "Part of the Flat Icon
# Collection (...)": 599), not what one shows; 3,263 of the 8,044 titled drawings have a title used at most this often.
MAX_SHARED_TITLE = 3
_DC = "{http://purl.org/dc/elements/1.1/}"
_CC = "{http://web.resource.org/cc/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


@dataclass(frozen=True)
class Drawing:
    """One drawing, its title and its keywords."""

    name: str  # path below the clip art folder, without suffix, e.g. "animals/frog_01"
    image: Path
    title: str
    keywords: tuple[str, ...]

    def caption(self) -> str:
        """The title as words: "AIGA_Symbol_Signs" -> "AIGA Symbol Signs"."""
        return " ".join(self.title.replace("_", " ").split())


def drawing_metadata(svg: Path) -> tuple[str, tuple[str, ...]]:
    """The drawing's own title and keywords from its `cc:Work` block; ("", ()) when it has none or the file
    is not well-formed XML (or declares entities, which defusedxml refuses)."""
    title, keywords, open_blocks = "", [], {f"{_CC}Work": 0, f"{_CC}Agent": 0}
    try:
        for event, element in iterparse(str(svg), events=("start", "end")):
            if element.tag in open_blocks:
                open_blocks[element.tag] += 1 if event == "start" else -1
                if element.tag == f"{_CC}Work" and event == "end":
                    break
            elif event == "end" and open_blocks[f"{_CC}Work"] and not open_blocks[f"{_CC}Agent"]:
                if element.tag == f"{_DC}title" and not title:
                    title = " ".join((element.text or "").split())
                elif element.tag == f"{_RDF}li":
                    keywords.append(" ".join((element.text or "").split()))
    except (ParseError, DefusedXmlException):
        return "", ()
    return title, tuple(k for k in keywords if k and k != NO_KEYWORD)


def captioned(drawings: list[Drawing]) -> list[Drawing]:
    """The drawings whose title names them: used by at most MAX_SHARED_TITLE drawings (as a caption)."""
    uses = Counter(d.caption() for d in drawings)
    return [d for d in drawings if uses[d.caption()] <= MAX_SHARED_TITLE]


def read_drawings(clipart_dir: Path) -> list[Drawing]:
    """Every titled drawing under `clipart_dir` of at most MAX_SVG_BYTES, sorted by name.

    Raises:
        DataSourceMissing: The folder is absent (the Debian package is not installed).
    """
    require_installed(clipart_dir, "openclipart drawings", CLIPART_PACKAGE, "AIPRIME_CLIPART_DIR")
    found = (_drawing(svg, clipart_dir) for svg in sorted(clipart_dir.rglob("*.svg")))
    return [drawing for drawing in found if drawing is not None]


def _drawing(svg: Path, clipart_dir: Path) -> Drawing | None:
    """The drawing in `svg` if it is small enough and titled."""
    if svg.stat().st_size > MAX_SVG_BYTES:
        return None
    title, keywords = drawing_metadata(svg)
    return (
        Drawing(svg.relative_to(clipart_dir).with_suffix("").as_posix(), svg, title, keywords)
        if title
        else None
    )
