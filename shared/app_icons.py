"""The web app's home-screen icons (issue 24, "installable on a phone"), drawn here rather
than by hand: web/assets/favicon.svg's rising line, white on the app's blue, as PNGs of
192 and 512 pixels for web/manifest.webmanifest. Full-bleed (no transparent corners), the
line inside the central circle a launcher keeps, so one file serves as "any" and
"maskable". Anti-aliased by each pixel's distance to the line; no imaging library.

    python -m shared.app_icons      # rewrites web/assets/icons/icon-<size>.png

A unit test (tests/unit/test_web_app_install.py) fails when the committed files differ from
what this draws.
"""
from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "web" / "assets" / "icons"
SIZES = (192, 512)
BACKGROUND = (0x0B, 0x4F, 0x8A)  # --primary in styles.css, the manifest's theme_color
LINE = (0xFF, 0xFF, 0xFF)
# favicon.svg's path, in its 32-unit box: M8 22 l6-6 4 4 6-8, stroke 3, round caps and joins.
POINTS = ((8.0, 22.0), (14.0, 16.0), (18.0, 20.0), (24.0, 12.0))
STROKE = 3.0
BOX = 32.0


def _distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def draw(size: int) -> bytes:
    """The icon as a PNG (8-bit RGB) of size × size pixels."""
    scale = size / BOX
    line = _Line([(x * scale, y * scale) for x, y in POINTS], STROKE * scale / 2)
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            cover = line.cover(x + 0.5, y + 0.5)
            row += bytes(round(bg + (fg - bg) * cover) for bg, fg in zip(BACKGROUND, LINE))
        rows.append(bytes(row))
    return _png(size, size, b"".join(rows))


class _Line:
    """The polyline with round caps and joins: how much of a pixel (by its centre) it covers."""

    def __init__(self, points: list[tuple[float, float]], half: float):
        self.segments = list(zip(points, points[1:]))
        self.half = half
        xs, ys = [x for x, _ in points], [y for _, y in points]
        self.box = (min(xs) - half - 1, max(xs) + half + 1, min(ys) - half - 1, max(ys) + half + 1)

    def cover(self, cx: float, cy: float) -> float:
        lo_x, hi_x, lo_y, hi_y = self.box
        if not (lo_x <= cx <= hi_x and lo_y <= cy <= hi_y):
            return 0.0
        d = min(_distance(cx, cy, a, b) for a, b in self.segments)
        return max(0.0, min(1.0, self.half - d + 0.5))


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def path_of(size: int) -> Path:
    return ICONS / f"icon-{size}.png"


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        path_of(size).write_bytes(draw(size))
        print(f"wrote {path_of(size)}")


if __name__ == "__main__":
    main()
