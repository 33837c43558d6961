"""Decoding image files, the explicit resize policies used by the importers, and their inverse."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adsynth.errors import ConfigError, DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
RESIZE_MODES = ("stretch", "pad", "crop")
COLOR_MODES = ("auto", "gray", "rgb")


def is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted for a deterministic order."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))


def _quiet_opencv(cv2) -> None:
    """Keep OpenCV's own warnings (e.g. "read_chunk ... data is too large" for a corrupt PNG) off stderr:
    a corrupt file is reported once, as a DataError naming it."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 H×W×1 (gray) or H×W×3 (RGB).

    16-bit images are scaled to 8 bits over the full range (``v / 257``), an alpha channel is dropped,
    and palette images are expanded. Unreadable or corrupt files raise :class:`DataError` naming the file.
    """
    import cv2

    _quiet_opencv(cv2)
    p = Path(path)
    try:
        buf = np.fromfile(p, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror or e})") from None
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise DataError(f"{p}: not a readable image (corrupt or unsupported format)")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = (
            np.clip(np.nan_to_num(img) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255)
            .round()
            .astype(np.uint8)
        )
    elif img.dtype != np.uint8:
        raise DataError(f"{p}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return img[:, :, None]
    if img.ndim == 3 and img.shape[2] == 1:
        return img
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return np.ascontiguousarray(img[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped
    raise DataError(f"{p}: unsupported image shape {img.shape}")


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Decode a ground-truth mask to H×W uint8 0/1 (any non-zero pixel is a defect)."""
    img = read_image(path)
    return (img.max(axis=2) > 0).astype(np.uint8)


def is_gray(img: np.ndarray) -> bool:
    """True for one-channel images and RGB images whose three channels are equal."""
    if img.shape[2] == 1:
        return True
    return bool(np.array_equal(img[:, :, 0], img[:, :, 1]) and np.array_equal(img[:, :, 1], img[:, :, 2]))


def to_mode(img: np.ndarray, channels: int) -> np.ndarray:
    """Convert H×W×C to ``channels`` (1 or 3); RGB → gray uses ITU-R 601 luma."""
    import cv2

    if img.shape[2] == channels:
        return img
    if channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.repeat(img, 3, axis=2)


def parse_size(size: int | str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``256`` → (256, 256); ``"256x320"`` (H×W) → (256, 320); None stays None."""
    if size is None:
        return None
    if isinstance(size, tuple):
        h, w = size
    elif isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        s = str(size).lower().replace("×", "x")
        try:
            h, w = (int(v) for v in s.split("x")) if "x" in s else (int(s), int(s))
        except ValueError:
            raise ConfigError(f"expected `size` to be N or HxW, got {size!r}") from None
    if h < 8 or w < 8 or h > 8192 or w > 8192:
        raise ConfigError(f"expected `size` between 8 and 8192 pixels per side, got {size!r}")
    return int(h), int(w)


def _resize(img: np.ndarray, h: int, w: int, nearest: bool) -> np.ndarray:
    import cv2

    if img.shape[:2] == (h, w):
        return img
    if nearest:
        interp = cv2.INTER_NEAREST
    elif h < img.shape[0] and w < img.shape[1]:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_LINEAR
    out = cv2.resize(img, (w, h), interpolation=interp)
    if out.ndim == 2 and img.ndim == 3:
        out = out[:, :, None]
    return out


def fit(
    img: np.ndarray, mask: np.ndarray | None, size: tuple[int, int], mode: str = "stretch"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Bring an image (and its mask, nearest neighbour) to ``size`` (H, W) with a resize ``mode``.

    * ``stretch``: resize to exactly H×W, ignoring the aspect ratio;
    * ``pad``: keep the aspect ratio, fit inside H×W, pad the rest with zeros (mask: 0);
    * ``crop``: keep the aspect ratio, cover H×W, crop the centre.
    """
    if mode not in RESIZE_MODES:
        raise ConfigError(f"unknown resize mode {mode!r} (valid: {', '.join(RESIZE_MODES)})")
    H, W = size
    h, w = img.shape[:2]
    if mode == "stretch" or (h, w) == (H, W):
        return _resize(img, H, W, False), (None if mask is None else _resize(mask, H, W, True))
    scale = min(H / h, W / w) if mode == "pad" else max(H / h, W / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if mode == "crop":
        nh, nw = max(nh, H), max(nw, W)
    im = _resize(img, nh, nw, False)
    mk = None if mask is None else _resize(mask, nh, nw, True)
    if mode == "pad":
        top, left = (H - nh) // 2, (W - nw) // 2
        out = np.zeros((H, W, img.shape[2]), np.uint8)
        out[top : top + nh, left : left + nw] = im
        if mk is not None:
            m2 = np.zeros((H, W), np.uint8)
            m2[top : top + nh, left : left + nw] = mk
            mk = m2
        return out, mk
    top, left = (nh - H) // 2, (nw - W) // 2
    out = np.ascontiguousarray(im[top : top + H, left : left + W])
    if mk is not None:
        mk = np.ascontiguousarray(mk[top : top + H, left : left + W])
    return out, mk


def photo_box(
    stored: tuple[int, int], original: tuple[int, int] | None, resize: str | None
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """Where a photo's pixels lie in its stored image, and the photo's own size there.

    Returns ``((top, left, height, width), (h, w))``: the box of the stored ``H×W`` image holding the
    photo (everything but the padding of a ``pad`` import) and the size the box had in the photo (the
    inverse of :func:`fit` with the import's ``resize`` mode; ``original`` is the ``original_size`` the
    importer records). Without ``original`` (a generated dataset, an import that kept the size) the
    whole stored image at its stored size. Used by tiled training and by the evaluation, which leaves
    the padding out of the pixel metrics.

    Example:
        >>> photo_box((100, 100), (50, 25), "pad")  # a 50×25 photo padded into 100×100
        ((0, 25, 100, 50), (50, 25))
    """
    H, W = (int(v) for v in stored)
    if original is None or resize in (None, "none") or tuple(original) == (H, W):
        return (0, 0, H, W), (H, W)
    h, w = (int(v) for v in original)
    if resize == "stretch":
        return (0, 0, H, W), (h, w)
    if resize == "pad":  # the same arithmetic as the importer's fit(): scaled to fit, centred
        s = min(H / h, W / w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        return ((H - nh) // 2, (W - nw) // 2, nh, nw), (h, w)
    if resize == "crop":  # scaled to cover, the centre kept: the stored image is part of the photo
        s = max(H / h, W / w)
        nh, nw = max(max(1, round(h * s)), H), max(max(1, round(w * s)), W)
        return (0, 0, H, W), (max(1, round(H * h / nh)), max(1, round(W * w / nw)))
    raise DataError(f"unknown import resize mode {resize!r} in the dataset's settings")
