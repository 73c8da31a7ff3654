"""Image and clip encoders: PNG and animated GIF with Pillow, MP4 with ffmpeg (imageio-ffmpeg).

- PNG: Pillow's writer (zlib level 6, deterministic: no timestamps or text chunks).
- GIF: Pillow's writer (GIF89a with a NETSCAPE2.0 loop block). Every frame is quantised by Pillow
  to one global palette (median cut over a sample of the clip), without dithering: an error-
  diffusion pattern changes from frame to frame, which both flickers and defeats Pillow's
  "unchanged pixels are transparent" frame differencing (measured on the 165-frame
  ``examples/suspicion_beat.notes`` clip at 512 px: 648 KB undithered, 2.2 MB dithered; the former
  hand-written encoder with ordered dithering wrote 1.87 MB). Pillow keeps the indexed frames
  (one byte per pixel) until it writes the file, so :func:`check_clip` bounds a GIF's size.
- MP4 needs an ffmpeg binary, which the optional ``video`` extra (imageio-ffmpeg) provides.

The ``encode_*`` functions are pure (arrays in, bytes out); ``write_*`` go through
:mod:`facs_rig.io.atomic`, so an interrupted write never leaves a truncated file.
"""

from __future__ import annotations

import io
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from facs_rig.errors import MissingDependencyError, OutputError, UnsupportedFormatError
from facs_rig.io.atomic import write_bytes_atomic

__all__ = [
    "encode_png",
    "write_png",
    "decode_png",
    "encode_gif",
    "write_gif",
    "palette_for",
    "quantize",
    "write_mp4",
    "write_clip",
    "check_clip",
    "CLIP_FORMATS",
    "GIF_MAX_BYTES",
]

CLIP_FORMATS = (".gif", ".mp4")
#: Largest GIF (indexed pixels held while writing, one byte each) facs-rig writes: 1 GiB, e.g.
#: 4,096 frames of 512x512 (about 170 s at 24 fps). Longer clips are refused before rendering
#: with a pointer to MP4, which streams.
GIF_MAX_BYTES = 1 << 30
#: A GIF frame's delay is an unsigned 16-bit count of 1/100 s (GIF89a §23.c.vii): 0.02-655.35 s
#: (browsers play 0-1 as "as fast as possible").
_GIF_MIN_FPS = 100.0 / 65535.0
#: imageio-ffmpeg passes the rate to ffmpeg as "%.02f": below 0.005 it reads "0.00".
_MP4_MIN_FPS = 0.01


def _as_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
        raise ValueError(f"expected a (height, width, 3|4) uint8 image, got {array.shape} {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError("cannot encode an empty image")
    return array


def encode_png(image: np.ndarray, *, level: int = 6) -> bytes:
    """Encode an RGB or RGBA ``(height, width, 3|4)`` uint8 image as PNG bytes (deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(_as_image(image))).save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a ``(height, width, 3|4)`` uint8 array (RGB, or RGBA with alpha).

    Raises
    ------
    ValueError
        When the bytes are not a readable PNG.
    """
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            return np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
    # Pillow's ways of saying "broken": OSError (incl. UnidentifiedImageError), SyntaxError, ...
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ValueError(f"malformed PNG: {exc}") from None


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an image as a PNG file, atomically."""
    write_bytes_atomic(path, encode_png(image))


# --------------------------------------------------------------------------------------- GIF


def palette_for(frames: Sequence[np.ndarray], *, colours: int = 256) -> np.ndarray:
    """A ``(256, 3)`` uint8 palette for a clip: Pillow's median cut over the frames' pixels.

    Every other pixel of every other row of each frame is sampled (renders are smooth, so this
    loses nothing and quarters the work); unused entries are black. Deterministic.
    """
    sample = np.concatenate([np.asarray(f)[::2, ::2, :3].reshape(-1, 3) for f in frames])
    column = Image.fromarray(np.ascontiguousarray(sample.reshape(-1, 1, 3)))
    reduced = column.quantize(colours, method=Image.Quantize.MEDIANCUT)
    values = np.zeros(256 * 3, np.uint8)
    entries = reduced.getpalette()[: colours * 3]
    values[: len(entries)] = entries
    return values.reshape(256, 3)


def _palette_image(palette: np.ndarray) -> Image.Image:
    table = np.asarray(palette, np.uint8)
    if table.shape != (256, 3):
        raise ValueError(f"a GIF palette must be (256, 3) uint8, got {table.shape}")
    image = Image.new("P", (1, 1))
    image.putpalette(table.tobytes())
    return image


def _indexed(frame: np.ndarray, palette_image: Image.Image, dither: bool) -> Image.Image:
    rgb = Image.fromarray(np.ascontiguousarray(_as_image(frame)[:, :, :3]))
    method = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    return rgb.quantize(palette=palette_image, dither=method)


def quantize(image: np.ndarray, palette: np.ndarray, *, dither: bool = False) -> np.ndarray:
    """Palette index per pixel, ``(height, width)`` uint8: Pillow's nearest colour (or dithered)."""
    return np.asarray(_indexed(image, _palette_image(palette), dither))


def _delays_ms(fps: float) -> Iterator[int]:
    """Frame delays in whole 1/100 s (as GIF stores them), in ms; the rounding error is carried
    over frame to frame so the clip keeps its total length."""
    carried = 0.0
    while True:
        exact = 100.0 / fps + carried
        delay = max(2, int(round(exact)))  # browsers treat 0-1 as "as fast as possible"
        carried = exact - delay
        yield delay * 10


def encode_gif(
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    loop: bool = True,
    palette: np.ndarray | None = None,
    dither: bool = False,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Encode RGB frames as an animated GIF with Pillow (one global palette, frame differencing).

    Parameters
    ----------
    frames : iterable of (height, width, 3) uint8
        All the same size; consumed lazily (each is kept only as indexed pixels).
    fps : float
        Frames per second; GIF delays are whole hundredths, so the error is carried over
        frame to frame and the clip keeps its total length.
    loop : bool
        Loop forever (NETSCAPE2.0 extension).
    palette : (256, 3) uint8, optional
        Colour table (default: :func:`palette_for` the frames, which needs them all first).
    dither : bool
        Floyd-Steinberg dithering (off by default: see the module notes).
    progress : callable, optional
        Called with the number of frames taken so far.
    """
    if not fps or not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    if palette is None:
        frames = [_as_image(f)[:, :, :3] for f in frames]
        if not frames:
            raise ValueError("cannot encode a GIF with no frames")
        palette = palette_for(frames)
    table = _palette_image(palette)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("cannot encode a GIF with no frames")
    size = _as_image(first).shape[:2]
    delays = _delays_ms(fps)

    def indexed(number: int, frame: np.ndarray) -> Image.Image:
        if _as_image(frame).shape[:2] != size:
            raise ValueError("all GIF frames must have the same size")
        image = _indexed(frame, table, dither)
        image.info["duration"] = next(delays)  # Pillow reads each frame's own delay from info
        if progress is not None:
            progress(number + 1)
        return image

    rest = (indexed(number, frame) for number, frame in enumerate(frames, start=1))
    buffer = io.BytesIO()
    # disposal 1: leave each frame in place, so Pillow writes only what changed (the rest is
    # transparent, optimize=True); identical frames are merged into one longer frame.
    save = {"loop": 0} if loop else {}
    indexed(0, first).save(buffer, "GIF", save_all=True, append_images=rest, optimize=True,
                           disposal=1, **save)
    return buffer.getvalue()


def write_gif(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    palette: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write frames as an animated GIF file, atomically (frames taken lazily with ``palette``)."""
    check_clip(path, fps)
    write_bytes_atomic(path, encode_gif(frames, fps=fps, palette=palette, progress=progress))


def check_clip(path: str | os.PathLike[str], fps: float, *, n_frames: int | None = None,
               width: int | None = None, height: int | None = None) -> None:
    """Refuse a clip its format cannot hold, before anything is rendered.

    GIF: a frame lasts 0.02-655.35 s, and the indexed frames must fit :data:`GIF_MAX_BYTES`
    (checked when ``n_frames``, ``width`` and ``height`` are given). MP4: at least 0.01 fps.

    Raises
    ------
    UnsupportedFormatError
        Naming ``path``.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in CLIP_FORMATS:
        raise UnsupportedFormatError(
            f"{path}: unknown clip format {suffix or '(no extension)'}; use .gif or .mp4"
        )
    if suffix == ".gif":
        if not (_GIF_MIN_FPS <= fps < float("inf")):
            raise UnsupportedFormatError(
                f"{path}: {fps:g} fps cannot be written as a GIF (a GIF frame lasts "
                f"0.02-655.35 s, so fps must be at least 0.0016)")
        if None not in (n_frames, width, height) and n_frames * width * height > GIF_MAX_BYTES:
            raise UnsupportedFormatError(
                f"{path}: a GIF of {n_frames:,} frames of {width}x{height} is more than facs-rig "
                f"writes as a GIF ({GIF_MAX_BYTES >> 30} GiB of pixels); write an .mp4, or lower "
                f"the fps or --size")
    elif not (_MP4_MIN_FPS <= fps < float("inf")):
        raise UnsupportedFormatError(f"{path}: {fps:g} fps cannot be written as an MP4 "
                                     f"(fps must be at least 0.01)")


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
    check_clip(path, fps)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("cannot encode a clip with no frames")
    first = _as_image(first)[:, :, :3]
    height, width = first.shape[:2]
    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="facs-rig-mp4-") as folder:
        temporary = Path(folder) / "clip.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(temporary),
            (width, height),
            fps=fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=2,
            output_params=["-movflags", "+faststart"],
        )
        try:
            writer.send(None)
            for number, frame in enumerate(itertools.chain([first], frames)):
                frame = _as_image(frame)[:, :, :3]
                if frame.shape[:2] != (height, width):
                    raise ValueError("all frames of a clip must have the same size")
                writer.send(np.ascontiguousarray(frame))
                if progress is not None:
                    progress(number + 1)
            writer.close()
        except BaseException as exc:
            _kill_ffmpeg(writer)
            if isinstance(exc, (OSError, RuntimeError)):
                raise OutputError(f"{target}: ffmpeg could not encode the clip: {exc}") from None
            raise
        write_bytes_atomic(target, temporary.read_bytes())


def _kill_ffmpeg(writer) -> None:
    """Stop ffmpeg at once, without letting it finish the file.

    Closing imageio-ffmpeg's writer normally (or letting it be garbage-collected after the
    temporary folder is gone) makes ffmpeg write the trailer into a deleted file and print
    "Error writing trailer" on the terminal after Ctrl-C. The writer kills ffmpeg instead of
    waiting for it when a KeyboardInterrupt reaches it, so one is thrown in.
    """
    try:
        writer.throw(KeyboardInterrupt())
    except (KeyboardInterrupt, StopIteration):
        pass


def write_clip(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    palette: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write a clip in the format its extension names (``.gif`` or ``.mp4``).

    ``frames`` may be a generator: MP4 streams them to ffmpeg; a GIF given its ``palette`` takes
    them one at a time and keeps only their indexed pixels.
    """
    check_clip(path, fps)
    if Path(path).suffix.lower() == ".gif":
        write_gif(path, frames, fps=fps, palette=palette, progress=progress)
    else:
        write_mp4(path, frames, fps=fps, progress=progress)
