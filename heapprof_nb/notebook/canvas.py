"""ipympl's interactive matplotlib canvas for the view, imported without switching matplotlib's
backend, and drawing by blitting (see ``ipympl_canvas``)."""

from __future__ import annotations

import threading
from typing import Any, Callable

from .quiet import Quiet

__all__ = ["ipympl_canvas"]

_canvas_classes: tuple[Any, Any] | None = None
_ipympl_lock = threading.Lock()


def ipympl_canvas() -> tuple[Any, Any] | None:
    """``(Canvas subclass, FigureManager)`` from ipympl, or None when ipympl is missing.

    ipympl's package ``__init__`` switches matplotlib's backend when matplotlib is already
    imported; the view only wants the widget, so that switch is suppressed while importing (the
    user's ``%matplotlib inline`` stays as it was). The canvas subclass handles its browser
    messages under the view's lock, quietly."""
    global _canvas_classes
    with _ipympl_lock:
        if _canvas_classes is not None:
            return _canvas_classes
        try:
            import matplotlib
        except ImportError:
            return None
        use = matplotlib.use
        matplotlib.use = lambda *args, **kwargs: None
        try:
            from ipympl.backend_nbagg import Canvas, FigureManager
        except Exception:  # noqa: BLE001 - a broken ipympl is a missing ipympl
            return None
        finally:
            matplotlib.use = use

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        agg_draw: Any = FigureCanvasAgg.draw

        class _ViewCanvas(Canvas):  # type: ignore[misc]
            """ipympl's canvas, with blitting: the plot is rendered once and kept; a redraw
            while the mouse drags a span only puts the selection's (animated) artists over the
            kept pixels, and only the changed pixels go to the browser. WebAgg itself does not
            blit (``supports_blit = False``), and a full redraw per mouse move would queue the
            release behind seconds of drawing."""

            _hpnb_lock: Any = None
            _hpnb_animated: Callable[[], Any] | None = None
            _hpnb_background: Any = None

            def _handle_message(self, obj: Any, content: Any, buffers: Any) -> None:
                lock = self._hpnb_lock
                with Quiet():
                    if lock is None:
                        super()._handle_message(obj, content, buffers)
                    else:
                        with lock:
                            super()._handle_message(obj, content, buffers)

            def send_binary(self, data: Any) -> None:
                # ipympl (0.9, 0.10) sends the raw RGBA buffer instead of the PNG while the
                # browser has not said "initialized" yet, which is the whole time a --live cell
                # runs (the kernel reads the browser's messages only after the cell). Send the
                # PNG; the view keeps the widget state's picture (_data_url) itself.
                self.send({"data": '{"type": "binary"}'}, buffers=[data])

            def draw(self) -> None:
                animated = self._hpnb_animated() if self._hpnb_animated is not None else ()
                if not animated:
                    super().draw()
                    return
                self._png_is_old = True
                try:
                    renderer = self.get_renderer()
                    key = (renderer.width, renderer.height, self.figure.dpi)
                    kept = self._hpnb_background
                    if kept is None or kept[0] != key:
                        agg_draw(self)  # animated artists are left out
                        self._hpnb_background = (key, self.copy_from_bbox(self.figure.bbox))
                    else:
                        self.restore_region(kept[1])
                    for artist in animated:
                        if artist.get_visible() and artist.axes is not None:
                            artist.axes.draw_artist(artist)
                finally:
                    self.manager.refresh_all()

        _canvas_classes = (_ViewCanvas, FigureManager)
        return _canvas_classes
