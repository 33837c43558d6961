"""Figures of the evaluation report: image ROC, PRO curve, heat-map overlays.

Functions return PNG bytes so the caller can write them atomically. matplotlib (Agg backend) is
imported inside the plotting functions only, to keep ``import adsynth.evaluate`` light.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import cv2
import numpy as np

from adsynth.evaluate.metrics import Undefined

__all__ = ["roc_figure", "pro_figure", "overlay", "encode_png"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _label(name: str, value) -> str:
    return f"{name} (n/a)" if isinstance(value, Undefined) else f"{name} ({value:.3f})"


def _strokes(n: int) -> tuple[list[float], list[str]]:
    """Line widths (widest first) and styles, so that curves lying on each other stay visible."""
    widths = [1.2 + 3.0 * (n - 1 - i) / max(n - 1, 1) for i in range(n)]
    styles = ["-", "--", "-.", ":"]
    return widths, [styles[i % len(styles)] for i in range(n)]


def roc_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], aurocs: Mapping[str, object]) -> bytes:
    """Image-level ROC, one curve per defect type; ``aurocs`` label the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for (name, (fpr, tpr)), lw, ls in zip(curves.items(), *_strokes(len(curves)), strict=True):
        ax.plot(fpr, tpr, lw=lw, ls=ls, label=_label(name, aurocs.get(name)))
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    # A margin round the unit square: a perfect curve runs along x = 0 and y = 1 and must not hide
    # under the frame.
    ax.set(xlim=(-0.03, 1.02), ylim=(-0.02, 1.04), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title("Image ROC (normal + one defect type)")
    if curves:
        ax.legend(loc="lower right", fontsize=8)
    return _figure_png(fig)


def pro_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], aupros: Mapping[str, object], limit: float
) -> bytes:
    """PRO curve up to the integration ``limit``, one curve per defect type."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for (name, (fpr, pro)), lw, ls in zip(curves.items(), *_strokes(len(curves)), strict=True):
        ax.plot(fpr, pro, lw=lw, ls=ls, label=_label(name, aupros.get(name)))
    ax.set(
        xlim=(-0.03 * limit, limit * 1.02),
        ylim=(-0.02, 1.04),
        xlabel="false positive rate (defect-free pixels)",
    )
    ax.set_ylabel("per-region overlap")
    ax.set_title(f"PRO curve up to FPR {limit:g}")
    if curves:
        ax.legend(loc="lower right", fontsize=8)
    return _figure_png(fig)


def overlay(
    image: np.ndarray | None,
    amap: np.ndarray,
    mask: np.ndarray,
    vmin: float,
    vmax: float,
    caption: str | None = None,
    score: float | None = None,
) -> np.ndarray:
    """RGB uint8 picture: the image with the anomaly map as a heat overlay and the GT contour in green,
    above a colour bar of the map's scale (``vmin`` … ``vmax``, with ``score`` marked: clamped to the
    bar's end with an arrowhead and a line of text when it lies beyond) and ``caption``.

    The heat colours use one fixed range ``[vmin, vmax]`` for every overlay of a report, so pictures
    can be compared; this is for display only and never touches the metrics.
    """
    h, w = mask.shape
    span = vmax - vmin if vmax > vmin else 1.0
    heat = np.clip((amap - vmin) / span * 255.0, 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    if image is None:
        out = heat
    else:
        img = np.asarray(image, dtype=np.uint8)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        out = cv2.addWeighted(img, 0.55, heat, 0.45, 0.0)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if contours:
        out = np.ascontiguousarray(out)
        cv2.drawContours(out, contours, -1, (0, 255, 0), max(1, round(min(h, w) / 200)))
    if w < 160:  # room for the bar's text: enlarge small maps by a whole factor
        f = -(-160 // w)
        out = cv2.resize(out, (w * f, h * f), interpolation=cv2.INTER_NEAREST)
    return np.concatenate([out, _scale_bar(out.shape[1], vmin, vmax, caption, score)], axis=0)


def _off_scale(score: float | None, vmin: float, vmax: float) -> str | None:
    """What to say of a score outside the colour bar (a model's image score need not be a map value:
    PatchCore's exceeds its map's maximum), or None when the tick lies on the bar."""
    if score is None or vmin <= score <= vmax:
        return None
    return f"score {score:.4g} {'above' if score > vmax else 'below'} the scale"  # ends labelled above


def _scale_bar(width: int, vmin: float, vmax: float, caption: str | None, score: float | None) -> np.ndarray:
    """A strip under an overlay: the colour bar with its range, the score's tick, and a caption.

    A score beyond the bar is clamped to its end and drawn as an arrowhead pointing off the scale, with
    a line of text saying so (a plain tick there would read as a score equal to the end)."""
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1
    line = 12
    off = _off_scale(score, vmin, vmax)
    texts = [t for t in (off, caption) if t]
    strip = np.full((10 + 2 * line + line * len(texts) + 4, width, 3), 255, np.uint8)
    ramp = np.linspace(0, 255, width).astype(np.uint8)[None, :].repeat(10, axis=0)
    strip[:10] = cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    if score is not None and vmax > vmin:
        x = int(np.clip((score - vmin) / (vmax - vmin), 0, 1) * (width - 1))
        if off is None:
            strip[:10, max(0, x - 1) : x + 2] = 0
        else:  # an arrowhead at the end of the bar, pointing off the scale
            tip, base = (width - 1, width - 11) if score > vmax else (0, 10)
            arrow = np.array([[tip, 5], [base, 0], [base, 9]], np.int32)
            cv2.fillConvexPoly(strip, arrow, (255, 255, 255))
            cv2.polylines(strip, [arrow], True, (0, 0, 0), 1)
    lo, hi = f"{vmin:.4g}", f"{vmax:.4g}"
    (hw, _), _ = cv2.getTextSize(hi, font, scale, thick)
    cv2.putText(strip, lo, (1, 10 + line - 2), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
    cv2.putText(strip, hi, (width - hw - 1, 10 + line - 2), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
    for k, text in enumerate(texts, start=2):
        cv2.putText(strip, text, (1, 10 + k * line - 1), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return strip


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB (or grey) uint8 array."""
    arr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return buf.tobytes()
