"""Pictures the offline demo model "draws": small PNGs made from the prompt, no image library."""

from __future__ import annotations

import hashlib
import struct
import zlib

SIZE = 320


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    """Encode RGB rows as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _palette(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Sky colours picked from the prompt (blue when it says blue, else from its hash)."""
    words = prompt.lower()
    named = {"blue": ((20, 60, 160), (120, 190, 255)), "green": ((20, 90, 50), (150, 220, 140)),
             "red": ((120, 20, 30), (255, 140, 100)), "purple": ((60, 20, 110), (200, 140, 255))}
    for name, colours in named.items():
        if name in words:
            return colours
    seed = hashlib.sha256(prompt.encode()).digest()
    top = (40 + seed[0] % 60, 30 + seed[1] % 50, 90 + seed[2] % 90)
    return top, (255, 170 + seed[3] % 60, 90 + seed[4] % 60)


def landscape(prompt: str, size: int = SIZE) -> bytes:
    """A sunset landscape: gradient sky, a sun, two hills; colours follow the prompt."""
    top, bottom = _palette(prompt)
    sun_x, sun_y, sun_r = size * 0.66, size * 0.45, size * 0.13
    rows: list[bytes] = []
    for y in range(size):
        t = y / (size - 1)
        sky = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        row = bytearray()
        for x in range(size):
            hill_far = size * (0.62 + 0.06 * ((x / size - 0.3) ** 2) * 4)
            hill_near = size * (0.78 - 0.10 * (1 - ((x / size - 0.75) * 2) ** 2))
            dist2 = (x - sun_x) ** 2 + (y - sun_y) ** 2
            if y > hill_near:
                pixel = (30, 70 + int(40 * t), 45)
            elif y > hill_far:
                pixel = (50, 105, 70)
            elif dist2 < sun_r ** 2:
                pixel = (255, 236, 160)
            elif dist2 < (sun_r * 1.5) ** 2:
                glow = 1 - (dist2 ** 0.5 - sun_r) / (sun_r * 0.5)
                pixel = tuple(int(c + (255 - c) * glow * 0.35) for c in sky)  # type: ignore[assignment]
            else:
                pixel = sky  # type: ignore[assignment]
            row += bytes(pixel)
        rows.append(bytes(row))
    return _png(size, size, rows)
