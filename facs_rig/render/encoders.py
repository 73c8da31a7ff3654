"""Image and clip encoders with the standard library and numpy only: PNG, animated GIF; MP4 via ffmpeg.

- PNG follows the W3C PNG specification (2nd ed., 2003): signature, IHDR, IDAT (zlib), IEND,
  each chunk ``length | type | data | CRC-32``; rows use filter type 2 (Up, §9.2), which suits
  smooth renders and is one numpy subtraction.
- GIF follows GIF89a (CompuServe 1990): a global 256-colour table, a NETSCAPE2.0 loop extension,
  per frame a Graphic Control Extension (delay in 1/100 s) and an image descriptor covering only
  the rectangle that changed, LZW-compressed with variable code width (Appendix F).
- MP4 needs an ffmpeg binary, which the optional ``video`` extra (imageio-ffmpeg) provides.

The ``encode_*`` functions are pure (arrays in, bytes out); ``write_*`` go through
:mod:`facs_rig.io.atomic`, so an interrupted write never leaves a truncated file.
"""

from __future__ import annotations

import itertools
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from facs_rig.errors import MissingDependencyError, OutputError, UnsupportedFormatError
from facs_rig.io.atomic import write_bytes_atomic

__all__ = [
    "encode_png",
    "write_png",
    "decode_png",
    "encode_gif",
    "write_gif",
    "lzw_encode",
    "palette_for",
    "quantize",
    "write_mp4",
    "write_clip",
    "CLIP_FORMATS",
]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLIP_FORMATS = (".gif", ".mp4")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _as_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
        raise ValueError(f"expected a (height, width, 3|4) uint8 image, got {array.shape} {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError("cannot encode an empty image")
    return array


def encode_png(image: np.ndarray, *, level: int = 6) -> bytes:
    """Encode an RGB or RGBA ``(height, width, 3|4)`` uint8 image as PNG bytes (deterministic)."""
    array = _as_image(image)
    height, width, channels = array.shape
    rows = array.reshape(height, width * channels).astype(np.int16)
    filtered = np.empty_like(rows)
    filtered[0] = rows[0]
    filtered[1:] = rows[1:] - rows[:-1]  # filter 2, Up: Raw(x) - Prior(x) mod 256
    scanlines = np.empty((height, width * channels + 1), np.uint8)
    scanlines[:, 0] = 2
    scanlines[0, 0] = 0  # the first row has no prior row: filter 0 (None)
    scanlines[:, 1:] = (filtered & 0xFF).astype(np.uint8)
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> np.ndarray:
    """Decode the PNGs :func:`encode_png` writes (8-bit RGB/RGBA, filters 0-4); for tests and tools.

    Raises
    ------
    ValueError
        When the bytes are not such a PNG.
    """
    try:
        return _decode_png(data)
    except (zlib.error, struct.error, IndexError) as exc:
        raise ValueError(f"malformed PNG: {exc}") from None


def _decode_png(data: bytes) -> np.ndarray:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    position, header, idat = 8, None, b""
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    if header is None or header[2] != 8 or header[3] not in (2, 6) or header[6] != 0:
        raise ValueError("only 8-bit non-interlaced RGB/RGBA PNGs are supported")
    width, height, channels = header[0], header[1], 4 if header[3] == 6 else 3
    raw = np.frombuffer(zlib.decompress(idat), np.uint8)
    if raw.size != height * (width * channels + 1):
        raise ValueError(f"PNG data holds {raw.size} bytes, {height * (width * channels + 1)} expected")
    raw = raw.reshape(height, width * channels + 1)
    out = np.zeros((height, width * channels), np.int32)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int32)
        prior = out[row - 1] if row else np.zeros_like(line)
        if kind in (0, 2):
            out[row] = (line + (prior if kind == 2 else 0)) & 0xFF
        else:  # Sub, Average, Paeth need the running left neighbour
            for i in range(line.size):
                left = out[row, i - channels] if i >= channels else 0
                upper_left = prior[i - channels] if i >= channels else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + prior[i]) // 2
                else:
                    p = left + prior[i] - upper_left
                    pa, pb, pc = abs(p - left), abs(p - prior[i]), abs(p - upper_left)
                    predictor = left if pa <= pb and pa <= pc else prior[i] if pb <= pc else upper_left
                out[row, i] = (line[i] + predictor) & 0xFF
    return out.astype(np.uint8).reshape(height, width, channels)


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an image as a PNG file, atomically."""
    write_bytes_atomic(path, encode_png(image))


# --------------------------------------------------------------------------------------- GIF


def palette_for(frames: Sequence[np.ndarray], *, colours: int = 256) -> np.ndarray:
    """A ``(colours, 3)`` uint8 palette for a clip: the most frequent colours at 5 bits per channel.

    Renders are smooth gradients of a few hues, so the commonest cells of a 32-level RGB cube,
    refined to the mean colour of each cell, keep skin shading free of banding better than a
    uniform cube does. Deterministic: ties are broken by cell index.
    """
    sample = np.concatenate([np.asarray(f)[::2, ::2, :3].reshape(-1, 3) for f in frames])
    cells = (sample >> 3).astype(np.int64)
    index = (cells[:, 0] << 10) | (cells[:, 1] << 5) | cells[:, 2]
    counts = np.bincount(index, minlength=1 << 15)
    order = np.lexsort((np.arange(counts.size), -counts))
    chosen = order[:colours]
    chosen = chosen[counts[chosen] > 0]
    sums = np.stack([np.bincount(index, weights=sample[:, k], minlength=1 << 15) for k in range(3)], 1)
    palette = (sums[chosen] / counts[chosen, None] + 0.5).astype(np.uint8)
    if palette.shape[0] < colours:  # pad with black so the table size is a power of two
        palette = np.concatenate([palette, np.zeros((colours - palette.shape[0], 3), np.uint8)])
    return palette


def quantize(image: np.ndarray, palette: np.ndarray, *, dither: bool = False) -> np.ndarray:
    """Nearest palette index per pixel, ``(height, width)`` uint8, via a 32-level lookup cube.

    With ``dither``, a 4x4 ordered (Bayer) threshold of +-4 levels is added first, which turns the
    contour bands of smooth shading into a fine, stable pattern (fixed in screen space, so still
    regions of a clip stay identical frame to frame).
    """
    return _quantize(np.asarray(image), _lookup_cube(palette), dither)


#: Bayer's 4x4 ordered-dither matrix (Bayer 1973), centred and scaled to +-4 of 256 levels.
_BAYER = ((np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) + 0.5) / 16 - 0.5) * 8


def _quantize(image: np.ndarray, cube: np.ndarray, dither: bool) -> np.ndarray:
    pixels = image[:, :, :3]
    if dither:
        height, width = pixels.shape[:2]
        threshold = np.tile(_BAYER, (height // 4 + 1, width // 4 + 1))[:height, :width, None]
        pixels = np.clip(pixels + threshold, 0, 255).astype(np.uint8)
    pixels = pixels >> 3
    return cube[pixels[:, :, 0], pixels[:, :, 1], pixels[:, :, 2]]


def _lookup_cube(palette: np.ndarray) -> np.ndarray:
    levels = np.arange(32, dtype=np.float32) * 8 + 4
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    colours = palette.astype(np.float32)
    best = np.empty(grid.shape[0], np.uint8)
    for start in range(0, grid.shape[0], 4096):  # (4096, 256) distances at a time
        block = grid[start : start + 4096]
        distance = ((block[:, None, :] - colours[None, :, :]) ** 2).sum(-1)
        best[start : start + 4096] = distance.argmin(axis=1)
    return best.reshape(32, 32, 32)


def lzw_encode(indices: bytes, minimum_code_size: int = 8) -> bytes:
    """GIF-flavoured LZW (GIF89a Appendix F): variable-width codes packed LSB first, 12-bit maximum.

    Parameters
    ----------
    indices : bytes
        Palette indices, one per pixel, each below ``2 ** minimum_code_size``.
    minimum_code_size : int
        The LZW minimum code size written before the data (8 for a 256-colour table).
    """
    clear = 1 << minimum_code_size
    end = clear + 1
    code_size = minimum_code_size + 1
    table: dict[tuple[int, int], int] = {}
    next_code = end + 1
    out = bytearray()
    bit_buffer = 0
    bit_count = 0

    def emit(code: int) -> None:
        nonlocal bit_buffer, bit_count
        bit_buffer |= code << bit_count
        bit_count += code_size
        while bit_count >= 8:
            out.append(bit_buffer & 0xFF)
            bit_buffer >>= 8
            bit_count -= 8

    emit(clear)
    if indices:
        prefix = indices[0]
        get = table.get
        for symbol in indices[1:]:
            key = (prefix, symbol)
            code = get(key)
            if code is not None:
                prefix = code
                continue
            emit(prefix)
            if next_code < 4096:
                table[key] = next_code
                # The decoder widens its codes one entry later than the encoder adds them.
                if next_code == (1 << code_size) and code_size < 12:
                    code_size += 1
                next_code += 1
            else:  # table full: start afresh
                emit(clear)
                table.clear()
                code_size = minimum_code_size + 1
                next_code = end + 1
            prefix = symbol
        emit(prefix)
    emit(end)
    if bit_count:
        out.append(bit_buffer & 0xFF)
    return bytes(out)


def _sub_blocks(data: bytes) -> bytes:
    pieces = [bytes((len(data[i : i + 255]),)) + data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(pieces) + b"\x00"


def encode_gif(
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    loop: bool = True,
    palette: np.ndarray | None = None,
    dither: bool = True,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Encode RGB frames as an animated GIF (global palette, changed rectangles only).

    Parameters
    ----------
    frames : iterable of (height, width, 3) uint8
        All the same size.
    fps : float
        Frames per second; GIF delays are whole hundredths, so the error is carried over
        frame to frame and the clip keeps its total length.
    loop : bool
        Loop forever (NETSCAPE2.0 extension).
    palette : (256, 3) uint8, optional
        Colour table (default: :func:`palette_for` the frames).
    dither : bool
        Ordered dithering against banding (see :func:`quantize`).
    progress : callable, optional
        Called with the number of frames encoded so far.
    """
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    if palette is None:  # the palette needs every frame first
        frames = [_as_image(f)[:, :, :3] for f in frames]
        if not frames:
            raise ValueError("cannot encode a GIF with no frames")
        table = palette_for(frames)
    else:  # frames are encoded as they come: a long clip never sits in memory
        table = np.asarray(palette, np.uint8)
        if table.shape != (256, 3):
            raise ValueError(f"a GIF palette must be (256, 3) uint8, got {table.shape}")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("cannot encode a GIF with no frames")
    first = _as_image(first)[:, :, :3]
    height, width = first.shape[:2]
    cube = _lookup_cube(table)
    out = bytearray(b"GIF89a")
    # Logical screen: global table present (0x80), 8-bit colour resolution (0x70), 256 entries (7).
    out += struct.pack("<HHBBB", width, height, 0xF7, 0, 0)
    out += table.tobytes()
    if loop:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"
    previous = None
    carried = 0.0
    for number, frame in enumerate(itertools.chain([first], frames)):
        frame = _as_image(frame)[:, :, :3]
        if frame.shape[:2] != (height, width):
            raise ValueError("all GIF frames must have the same size")
        indexed = _quantize(frame, cube, dither)
        exact = 100.0 / fps + carried
        delay = max(2, int(round(exact)))  # browsers treat 0-1 as "as fast as possible"
        carried = exact - delay
        if previous is None:
            top, left, bottom, right = 0, 0, height, width
        else:
            changed = indexed != previous
            if changed.any():
                rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
                top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            else:  # nothing changed: a 1x1 frame still carries the delay
                top, left, bottom, right = 0, 0, 1, 1
        previous = indexed
        # Graphic Control Extension: disposal 1 (leave in place), no transparency.
        out += b"\x21\xf9\x04" + struct.pack("<BHB", 0x04, delay, 0) + b"\x00"
        out += b"\x2c" + struct.pack("<HHHHB", left, top, right - left, bottom - top, 0)
        out += b"\x08" + _sub_blocks(lzw_encode(indexed[top:bottom, left:right].tobytes(), 8))
        if progress is not None:
            progress(number + 1)
    out += b"\x3b"
    return bytes(out)


def write_gif(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    palette: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write frames as an animated GIF file, atomically (streamed when ``palette`` is given)."""
    # A frame's delay is an unsigned 16-bit count of 1/100 s (GIF89a §23.c.vii): at most 655.35 s.
    if not (100.0 / 65535.0 <= fps < float("inf")):
        raise UnsupportedFormatError(f"{path}: {fps:g} fps cannot be written as a GIF (a GIF frame "
                                     f"lasts 0.02-655.35 s, so fps must be at least 0.0016)")
    write_bytes_atomic(path, encode_gif(frames, fps=fps, palette=palette, progress=progress))


# --------------------------------------------------------------------------------------- MP4


def write_mp4(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write frames as an H.264 MP4 (yuv420p, plays everywhere) through imageio-ffmpeg.

    Raises
    ------
    MissingDependencyError
        When imageio-ffmpeg is not installed (``pip install 'facs-rig[video]'``).
    """
    try:
        import imageio_ffmpeg  # optional: the 'video' extra
    except ImportError:
        raise MissingDependencyError(
            f"{path}: writing MP4 needs imageio-ffmpeg; install it with "
            f"pip install 'facs-rig[video]' (or write a .gif)"
        ) from None
    # imageio-ffmpeg passes the rate to ffmpeg as "%.02f": below 0.005 it reads "0.00" and
    # ffmpeg fails with its own multi-line log instead of a message naming the file.
    if not (0.01 <= fps < float("inf")):
        raise UnsupportedFormatError(f"{path}: {fps:g} fps cannot be written as an MP4 "
                                     f"(fps must be at least 0.01)")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("cannot encode a clip with no frames")
    first = _as_image(first)[:, :, :3]
    height, width = first.shape[:2]
    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="facs-rig-mp4-") as folder:
        temporary = Path(folder) / "clip.mp4"
        try:
            writer = imageio_ffmpeg.write_frames(
                str(temporary),
                (width, height),
                fps=fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                macro_block_size=2,
                output_params=["-movflags", "+faststart"],
            )
            writer.send(None)
            for number, frame in enumerate(itertools.chain([first], frames)):
                frame = _as_image(frame)[:, :, :3]
                if frame.shape[:2] != (height, width):
                    raise ValueError("all frames of a clip must have the same size")
                writer.send(np.ascontiguousarray(frame))
                if progress is not None:
                    progress(number + 1)
            writer.close()
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"{target}: ffmpeg could not encode the clip: {exc}") from None
        write_bytes_atomic(target, temporary.read_bytes())


def write_clip(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    palette: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write a clip in the format its extension names (``.gif`` or ``.mp4``).

    ``frames`` may be a generator: MP4 always streams, GIF streams when given its ``palette``.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in CLIP_FORMATS:
        raise UnsupportedFormatError(
            f"{path}: unknown clip format {suffix or '(no extension)'}; use .gif or .mp4"
        )
    if suffix == ".gif":
        write_gif(path, frames, fps=fps, palette=palette, progress=progress)
    else:
        write_mp4(path, frames, fps=fps, progress=progress)
