"""The static fallback a displayed view leaves in the notebook: a PNG of the time plot and an
HTML output with the flame graph of the whole run and its top sites. The live view hides them
(``view_html.view_css``); a saved notebook, GitHub, nbviewer or an HTML export show them."""

from __future__ import annotations

import base64
from typing import Any

from . import view_html as H

__all__ = ["BLANK_PNG", "png_bundle", "pending_html_bundle", "html_bundle"]

#: A 1x1 transparent PNG (base64): the static plot's place until the profile is digested.
BLANK_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJ"
             "RU5ErkJggg==")
_PLOT_TEXT = "<heapprof_nb: memory over time>"


def png_bundle(png: bytes | None) -> dict[str, Any]:
    """The plot's output bundle (the placeholder until there is a plot)."""
    data = BLANK_PNG if png is None else base64.b64encode(png).decode("ascii")
    return {"image/png": data, "text/plain": _PLOT_TEXT}


def pending_html_bundle(sid: str) -> dict[str, Any]:
    """The HTML output while the profile is still being digested."""
    text = (f"<div class='{sid}'>" + H.message(
        "heapprof_nb: the profile is still being digested; this output is replaced by "
        "the flame graph of the whole run when it is done.") + "</div>")
    return {"text/html": text, "text/plain": "<heapprof_nb: digesting>"}


def html_bundle(sid: str, profile: Any, body: str) -> dict[str, Any]:
    """The HTML output of a digested profile: its header line, then ``body`` (the whole-run
    flame graph and table), styled by a stylesheet of its own."""
    text = (f"<div class='heapprof-static {sid}'>" + H.static_css(sid)
            + H.header_line(profile) + body + "</div>")
    return {"text/html": text, "text/plain": "<heapprof_nb: whole-run flame graph>"}
