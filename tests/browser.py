"""Headless Chromium for report tests and the report benchmark: a screenshot, the page's layout width,
and a PNG reader small enough to tell a blank page from a drawn one (no imaging library needed)."""
from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1600) -> float:
    """Render ``page`` and write a PNG; returns the seconds Chromium took (start-up included)."""
    started = time.monotonic()
    ran = _run([f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()])
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot: {ran.stderr[-500:]}")
    return time.monotonic() - started


def layout_widths(page: Path, width: int = 1200) -> tuple[int, int]:
    """(document scroll width, viewport width) after the page's scripts ran: overflow if the first is larger."""
    probe = page.with_name(page.stem + ".layout-probe.html")
    text = page.read_text(encoding="utf-8")
    hook = ("<script>window.addEventListener('load',function(){document.title='LAYOUT '+"
            "document.documentElement.scrollWidth+' '+document.documentElement.clientWidth})</script>")
    probe.write_text(text.replace("</body>", hook + "</body>"), encoding="utf-8")
    try:
        ran = _run([f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom", probe.resolve().as_uri()])
    finally:
        probe.unlink()
    marker = ran.stdout.split("<title>LAYOUT ", 1)
    if len(marker) < 2:
        raise RuntimeError(f"chromium did not run the page: {ran.stderr[-500:]}")
    scroll, client = marker[1].split("<", 1)[0].split()
    return int(scroll), int(client)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of raw pixel bytes) of an 8-bit RGB or RGBA PNG without interlacing."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, "unsupported PNG"
    bpp = 3 if color == 2 else 4
    raw, stride, rows, previous = zlib.decompress(b"".join(chunks)), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def distinct_colors(path: Path, step: int = 7) -> int:
    """How many different pixel values a sample of the image holds: 1 for a blank page."""
    width, height, rows = png_pixels(path)
    bpp = len(rows[0]) // width
    return len({row[x * bpp:(x + 1) * bpp] for row in rows[::step] for x in range(0, width, step)})
