"""adsynth: pseudo-anomaly synthesis, a model zoo and exact evaluation for visual anomaly detection.

Heavy libraries (torch, timm, albumentations) are imported lazily by the sub-packages that need them,
so importing :mod:`adsynth` and running ``adsynth --help`` stay fast.
"""

import os as _os

# albumentations phones home on import unless told not to; set it before anything can import it.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

__all__ = ["__version__"]
