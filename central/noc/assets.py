"""Copy the npm-installed front-end libraries (Leaflet, uPlot) into the served static folder.

Run after ``npm ci``: ``python -m central.noc assets [NODE_MODULES]``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from central.noc.context import STATIC_DIR

log = logging.getLogger(__name__)

FILES: dict[str, list[str]] = {
    "leaflet": ["dist/leaflet.js", "dist/leaflet.css", "dist/leaflet-src.esm.js",
                "dist/images/marker-icon.png", "dist/images/marker-shadow.png",
                "dist/images/layers.png", "LICENSE"],
    "uplot": ["dist/uPlot.esm.js", "dist/uPlot.min.css", "LICENSE"],
}


def install(node_modules: Path, dest: Path = STATIC_DIR / "vendor") -> list[Path]:
    """Copy FILES from node_modules to dest/<package>/ (flat, images/ kept); returns copies."""
    out: list[Path] = []
    for pkg, files in FILES.items():
        for rel in files:
            src = node_modules / pkg / rel
            if not src.exists():
                raise FileNotFoundError(f"{src} missing: run `npm ci` first")
            target = dest / pkg / rel.removeprefix("dist/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            out.append(target)
    return out

