"""HTML pieces of the interactive view: the header line, messages, the view's CSS (the table's
rules included; the table itself is ``heapprof_nb.views.table``).

Pure text, no widgets: :mod:`heapprof_nb.notebook.view` puts them into ipywidgets and into the
static fallback a saved notebook keeps. Colours come from JupyterLab's CSS variables (with light
defaults elsewhere), so the table reads in light and dark themes alike.
"""

from __future__ import annotations

import html
import os
from typing import Any, Sequence

from .._units import format_bytes

__all__ = ["header_line", "view_css", "static_css", "message", "flow_html"]

_esc = html.escape

#: Selectors of a dark notebook theme: JupyterLab / Notebook 7, VS Code.
DARK_THEME = (
    'body[data-jp-theme-light="false"]',
    "body.vscode-dark",
    "body.vscode-high-contrast:not(.vscode-high-contrast-light)",
)


def header_line(profile: Any) -> str:
    """``file · 12.3 s · sampling 64 KiB · peak 120 MiB at 3.2 s`` for the top of the view."""
    name = os.path.basename(str(getattr(profile, "path", "") or "")) or "profile"
    parts = [f"<b>{_esc(name)}</b>", f"{profile.duration:.2f} s"]
    mode = getattr(profile, "mode", 0)
    if mode == 2:
        parts.append("every allocation recorded")
    elif mode == 1:
        parts.append("per-size sampling")
    else:
        parts.append(f"sampling every {_esc(format_bytes(profile.rate))} on average")
    t, b = profile.peak()
    if b > 0:
        parts.append(f"peak {_esc(format_bytes(b))} at {t:.2f} s")
    if getattr(profile, "truncated", False) and getattr(profile.digest, "done", True):
        parts.append("<span class='hpnb-v-warn'>log without its trailer (cut short)</span>")
    return "<div class='hpnb-v-header'>" + " · ".join(parts) + "</div>"


def message(text: str, kind: str = "muted") -> str:
    """A one-line note in the view (``muted``, ``warn`` or ``error``)."""
    return f"<div class='hpnb-v-msg hpnb-v-{kind}'>{_esc(text)}</div>"


def flow_html(snapshot: Any) -> str:
    """The flow graph of ``snapshot`` as HTML (the SVG from ``dot``), or why there is none."""
    if snapshot is None or not snapshot.entries:
        return message("Nothing to draw: the selection holds no memory.")
    try:
        from ..views.graph import flow_graph, render_svg

        svg = render_svg(flow_graph(snapshot))
    except (ImportError, RuntimeError, OSError) as exc:
        return message(f"No flow graph: {exc}", "warn")
    return f"<div class='hpnb-v-flow'>{svg}</div>"


def _table_rules(s: str) -> list[str]:
    return [
        f"{s} .hpnb-v-header{{font-size:13px;padding:2px 0 4px}}",
        f"{s} .hpnb-v-muted{{color:var(--jp-content-font-color2,#666)}}",
        f"{s} .hpnb-v-warn{{color:var(--jp-warn-color0,#b35900)}}",
        f"{s} .hpnb-v-sites{{margin-top:6px}}",
        f"{s} .hpnb-v-sites table{{border-collapse:collapse;font-size:12px;margin:4px 0 0 0;"
        "table-layout:auto}",
        f"{s} .hpnb-v-sites th,{s} .hpnb-v-sites td{{padding:2px 10px 2px 0;text-align:left;"
        "vertical-align:top;border:0;border-bottom:1px solid var(--jp-border-color2,#e0e0e0);"
        "background:none;color:var(--jp-content-font-color1,inherit)}",
        f"{s} .hpnb-v-sites td.hpnb-v-num{{text-align:right;white-space:nowrap}}",
        f"{s} .hpnb-v-sites code{{font-size:11px;white-space:pre;background:none!important;"
        "padding:0!important}",
    ]


def static_css(sid: str) -> str:
    """The stylesheet of a static fallback output (``.sid``): the table and header, so they
    read the same in a saved notebook, an HTML export or nbviewer."""
    return "<style>" + "".join(_table_rules(f".{sid}")) + "</style>"


def view_css(uid: str, static_ids: Sequence[str] = ()) -> str:
    """The view's stylesheet, scoped to ``.uid``.

    - In a dark theme the time plot (a matplotlib raster drawn on white) is shown with its
      lightness inverted and hues kept (``invert`` + ``hue-rotate``), so it sits in the theme.
    - ``static_ids`` are the classes of this view's static fallback outputs (a PNG of the plot
      just before an HTML output with the whole-run flame graph): while the live view renders,
      they are hidden; a saved notebook opened without a kernel shows them instead.
    """
    s = f".{uid}"
    dark_plot = ",".join(f"{d} {s} .hpnb-v-plot canvas,{d} {s} .hpnb-v-plot img"
                         for d in DARK_THEME)
    rules = [
        f"{dark_plot}{{filter:invert(0.9) hue-rotate(180deg)}}",
        f"{s}{{gap:4px;color:var(--jp-content-font-color1,#222)}}",
        f"{s} .hpnb-v-msg{{padding:2px 0;font-size:12px}}",
        f"{s} .hpnb-v-error{{color:var(--jp-error-color0,#c0392b)}}",
        f"{s} .hpnb-v-status{{font-size:12px;min-height:1.5em}}",
        f"{s} .hpnb-v-plot{{overflow-x:auto;max-width:100%}}",
        # ipympl focuses the canvas when the mouse enters it (for key events, which the view
        # does not use): no focus ring around the plot whenever the mouse passes over it
        f"{s} .jupyter-matplotlib-canvas-div:focus{{outline:none}}",
        f"{s} .hpnb-v-flow{{overflow:auto;max-height:720px;background:#fff;border-radius:6px;"
        "padding:4px}",
        f"{s} .hpnb-v-flow svg{{max-width:none;height:auto}}",
        *_table_rules(s),
    ]
    for sid in static_ids:
        rules.append(
            f".jp-OutputArea-child:has(.{sid}),"
            f".jp-OutputArea-child:has(+ .jp-OutputArea-child .{sid}){{display:none!important}}"
        )
    return "<style>" + "".join(rules) + "</style>"
