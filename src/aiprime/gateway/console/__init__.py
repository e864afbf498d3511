"""The AI Prime console: a web app the gateway serves at `/console/` for people who are not ML engineers.

The page (`static/`: index.html, app.js, style.css, hand-written, no framework and nothing fetched from
elsewhere) logs in with the gateway's own OAuth2 password grant and reads only gateway routes, each needing
the `console` permission (`aiprime.gateway.console_routes`), so every action is authorized and audited as
any request. This package holds what those routes compute: a PROV document as a node-edge graph
(`graph`), the registered models with their metrics and the last drift check (`catalog`), and the console's
address with a login link for the local admin (`access`).
"""

from __future__ import annotations

from importlib import resources

from aiprime.errors import NotFound

#: The files the page is made of, with the media type each is served as.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def asset(name: str) -> tuple[bytes, str]:
    """The bytes and media type of one of the page's files.

    Raises:
        NotFound: `name` is not one of ASSETS.
    """
    if name not in ASSETS:
        raise NotFound(f"The console has no file {name!r}; open /console/ for the page.")
    return resources.files(__package__).joinpath("static", name).read_bytes(), ASSETS[name]
