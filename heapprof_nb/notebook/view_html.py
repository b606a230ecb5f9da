"""HTML pieces of the interactive view: the top-sites table, the header line, the view's CSS.

Pure text, no widgets: :mod:`heapprof_nb.notebook.view` puts them into ipywidgets and into the static
fallback a saved notebook keeps. Colours come from JupyterLab's CSS variables (with light
defaults elsewhere), so the table reads in light and dark themes alike.
"""

from __future__ import annotations

import html
import math
import os
from typing import Any, Sequence

from .._units import format_bytes

__all__ = ["top_sites", "sites_table", "header_line", "view_css", "static_css", "message"]

_esc = html.escape

#: Selectors of a dark notebook theme: JupyterLab / Notebook 7, VS Code.
DARK_THEME = (
    'body[data-jp-theme-light="false"]',
    "body.vscode-dark",
    "body.vscode-high-contrast:not(.vscode-high-contrast-light)",
)


def top_sites(entries: Sequence[Any], n: int = 10) -> tuple[list[tuple[Any, float, float, float]], float]:
    """The ``n`` largest allocation sites (the allocating frame) of a snapshot's entries.

    Returns ``([(frame or None, bytes, objects, variance)], total bytes)``, largest absolute
    bytes first. The same grouping as ``Snapshot.top(n, "lineno")``, done by frame identity
    first (a snapshot's stacks share their Frame objects), which keeps it fast on 50,000 stacks.
    """
    acc: dict[int, list[Any]] = {}
    get = acc.get
    total = 0.0
    for e in entries:
        stack = e.stack
        leaf = stack[0] if stack else None
        b = e.bytes
        total += b
        a = get(id(leaf))
        if a is None:
            acc[id(leaf)] = [leaf, b, e.objects, e.variance]
        else:
            a[1] += b
            a[2] += e.objects
            a[3] += e.variance
    merged: dict[Any, list[Any]] = {}
    for leaf, b, o, v in acc.values():  # equal frames that are distinct objects
        m = merged.get(leaf)
        if m is None:
            merged[leaf] = [leaf, b, o, v]
        else:
            m[1] += b
            m[2] += o
            m[3] += v
    rows = sorted(merged.values(), key=lambda r: (-abs(r[1]), _label(r[0])))[:n]
    return [(r[0], r[1], r[2], r[3]) for r in rows], total


def _label(frame: Any) -> str:
    return "<no Python frame>" if frame is None else str(frame.label)


def sites_table(snapshot: Any, n: int = 10) -> str:
    """The top ``n`` allocation sites of ``snapshot`` as an HTML table (site, line, bytes with
    their one-sigma error, share of the total, objects)."""
    rows, total = top_sites(snapshot.entries, n)
    err_total = snapshot.error
    body = []
    for frame, b, o, v in rows:
        source = (frame.source or "").strip() if frame is not None else ""
        err = math.sqrt(max(0.0, v))
        err_text = f" ± {format_bytes(err)}" if err else ""
        share = f"{b / total:.1%}" if total else ""
        body.append(
            "<tr>"
            f"<td class='hpnb-v-site'>{_esc(_label(frame))}</td>"
            f"<td class='hpnb-v-src'>{f'<code>{_esc(source)}</code>' if source else ''}</td>"
            f"<td class='hpnb-v-num'>{_esc(format_bytes(b))}{_esc(err_text)}</td>"
            f"<td class='hpnb-v-num'>{share}</td>"
            f"<td class='hpnb-v-num'>{o:,.0f}</td>"
            "</tr>"
        )
    if not body:
        body.append("<tr><td colspan='5' class='hpnb-v-muted'>nothing in this selection</td></tr>")
    title = _esc(getattr(snapshot, "title", "") or "snapshot")
    return (
        "<div class='hpnb-v-sites heapprof-sites'>"
        f"<div class='hpnb-v-sites-head'><b>Top allocation sites, {title}</b>: "
        f"{_esc(format_bytes(total))}"
        f"{_esc(' ± ' + format_bytes(err_total)) if err_total else ''} in "
        f"{len(snapshot.entries):,} stacks</div>"
        "<table><thead><tr><th>site</th><th>line</th><th>bytes</th><th>share</th>"
        "<th>objects</th></tr></thead><tbody>" + "".join(body) + "</tbody></table></div>"
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
