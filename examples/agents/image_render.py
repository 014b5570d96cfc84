"""Image agent: pictures that sharpen as you watch (Pillow).

Send it text and it draws a Mandelbrot fractal (the text picks the spot and the colours; the
same text gives the same picture). Attach a PNG or JPEG (a raw part) and it brings that
picture into focus instead. Either way it streams `VERSIONS` versions of one artifact, each
replacing the one before (`append: false`, same artifact id; `lastChunk` on the last): the
fractal at 1/16, 1/8, 1/4, 1/2 and full resolution with ever more iterations, the photo
from a heavy blur to sharp. Each version is a raw part (`image/png`, or `image/jpeg` for a
JPEG upload) with a file name, after a WORKING status with progress.

Size: "800x600" or "size 300" in the text (default 512x512, or the upload's own size), 16 to
`MAX_SIDE` pixels a side; anything else is REJECTED saying so. An upload is scaled to fit.
An upload that is not a readable PNG or JPEG, or has over `MAX_PIXELS` pixels, FAILS; a URL
part is refused (never fetched).

    python -m examples.agents.image_render [--port N] [--delay SECONDS]

`--delay` (least seconds between versions) defaults to $IMAGE_RENDER_DELAY, else 0.4.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from agent_runtime import AgentInfo, AgentSkill, File, TaskContext, file_part, run

PNG, JPEG = "image/png", "image/jpeg"
VERSIONS = 5
DEFAULT_SIDE = 512
MIN_SIDE, MAX_SIDE = 16, 2048
MAX_PIXELS = 40_000_000  # of an upload, checked from its header before it is decoded
Image.MAX_IMAGE_PIXELS = None  # we check MAX_PIXELS ourselves, with a message, not a warning

INFO = AgentInfo(
    name="image-render",
    description="Draws a fractal from your text, or brings an uploaded picture into focus, "
    "streaming sharper and sharper versions.",
    version="1.0.0",
    skills=[
        AgentSkill(
            id="fractal",
            name="Draw a fractal",
            description="A Mandelbrot picture chosen by the text; '800x600' or 'size 300' "
            "sets its size (16 to 2048 pixels a side).",
            tags=["images", "fractal"],
            examples=["a blue spiral", "seahorse valley 800x600"],
            input_modes=["text/plain"],
            output_modes=[PNG],
        ),
        AgentSkill(
            id="focus",
            name="Focus a picture",
            description="Attach a PNG or JPEG: it comes into focus version by version.",
            tags=["images", "photo"],
            examples=["<attach a photo>"],
            input_modes=[PNG, JPEG],
            output_modes=[PNG, JPEG],
        ),
    ],
    default_input_modes=["text/plain", PNG, JPEG],
    default_output_modes=[PNG, JPEG],
)

# Places worth looking at: (centre x, centre y, width of the view).
SPOTS = (
    (-0.75, 0.0, 3.0),
    (-0.7435, 0.1314, 0.02),
    (-0.745, 0.105, 0.06),
    (-1.25066, 0.02012, 0.0017),
    (-0.1011, 0.9563, 0.03),
    (0.2820, 0.0110, 0.02),
)
PALETTES = (
    ("#050a30", "#f5d142", "#2a6fdb"),
    ("#1b0b2e", "#ffffff", "#e2466d"),
    ("#001a14", "#e8ffe1", "#1e9e6a"),
    ("#120d05", "#fff3d4", "#d9731a"),
)
_SIZE = re.compile(r"\b(\d+)\s*[x\u00d7]\s*(\d+)\b|\bsize\s*[=:]?\s*(\d+)\b", re.I)


class Refused(Exception):
    """A request the agent declines (REJECTED) or cannot read (FAILED); the text says why."""

    def __init__(self, message: str, *, reject: bool = False) -> None:
        super().__init__(message)
        self.reject = reject


@dataclass(frozen=True, kw_only=True)
class Version:
    """One picture of the series, encoded."""

    data: bytes
    media_type: str
    width: int
    height: int
    detail: str


def requested_size(text: str) -> tuple[int, int] | None:
    """The size the text asks for ("800x600", "size 300"), None when it asks for none;
    Refused (reject) when out of bounds."""
    match = _SIZE.search(text)
    if match is None:
        return None

    def side(digits: str) -> int:
        return int(digits) if len(digits) <= 9 else 10**9  # no giant ints from user text

    if match.group(3) is not None:
        width = height = side(match.group(3))
    else:
        width, height = side(match.group(1)), side(match.group(2))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise Refused(
            f"{width}x{height} is not a size I draw: {MIN_SIDE} to {MAX_SIDE} pixels a side",
            reject=True,
        )
    return width, height


Render = Callable[[], Version]


def fractal_versions(text: str, size: tuple[int, int]) -> list[Render]:
    """The fractal for `text`, coarse to fine, each version drawn when called (CPU-bound)."""
    seed = hashlib.sha256(text.strip().lower().encode()).digest()
    x, y, view = SPOTS[seed[0] % len(SPOTS)] if text.strip() else SPOTS[0]
    black, white, mid = PALETTES[seed[1] % len(PALETTES)]
    width, height = size
    half_w, half_h = view / 2, view * height / width / 2
    extent = (x - half_w, y - half_h, x + half_w, y + half_h)

    def version(step: int) -> Version:
        scale = 2 ** (VERSIONS - 1 - step)  # 16, 8, 4, 2, 1
        small = (max(1, width // scale), max(1, height // scale))
        quality = 64 + 48 * step  # iterations: 64 .. 256
        gray = Image.effect_mandelbrot(small, extent, quality)
        picture = ImageOps.colorize(gray, black=black, white=white, mid=mid)
        picture = picture.resize(size, Image.Resampling.NEAREST)
        return _encode(picture, PNG, f"{small[0]}x{small[1]} pixels, {quality} iterations")

    return [functools.partial(version, step) for step in range(VERSIONS)]


def focus_versions(file: File, size: tuple[int, int] | None) -> list[Render]:
    """`file` (a PNG or JPEG) from blurred to sharp, scaled to fit `size`; Refused when it
    cannot be read (CPU-bound: decodes the picture)."""
    if file.data is None:
        raise Refused(f"{file.name}: pictures given by URL are not fetched; attach the file")
    try:
        with Image.open(io.BytesIO(file.data)) as opened:
            if opened.format not in ("PNG", "JPEG"):
                raise Refused(f"{file.name} is {opened.format}, not a PNG or JPEG")
            if opened.width * opened.height > MAX_PIXELS:
                raise Refused(
                    f"{file.name} is {opened.width}x{opened.height}: over {MAX_PIXELS} pixels"
                )
            media_type = JPEG if opened.format == "JPEG" else PNG
            picture = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Refused(f"{file.name} is not a readable PNG or JPEG: {exc}") from None
    fit = size or (min(picture.width, MAX_SIDE), min(picture.height, MAX_SIDE))
    picture = ImageOps.contain(picture, fit)

    def version(step: int) -> Version:
        radius = 3 * 2 ** (VERSIONS - 2 - step) if step < VERSIONS - 1 else 0  # 24 .. 3, 0
        blurred = picture.filter(ImageFilter.GaussianBlur(radius)) if radius else picture
        return _encode(blurred, media_type, f"blur radius {radius}" if radius else "in focus")

    return [functools.partial(version, step) for step in range(VERSIONS)]


def _encode(picture: Image.Image, media_type: str, detail: str) -> Version:
    out = io.BytesIO()
    if media_type == JPEG:
        picture.save(out, "JPEG", quality=85)
    else:
        picture.save(out, "PNG", optimize=False, compress_level=6)
    return Version(
        data=out.getvalue(),
        media_type=media_type,
        width=picture.width,
        height=picture.height,
        detail=detail,
    )


async def render(ctx: TaskContext, *, delay: float = 0.4) -> None:
    """The handler: WORKING with progress, then each version replacing the one before."""
    images = [f for f in ctx.files if f.media_type in (PNG, JPEG) or f.url is not None]
    try:
        size = requested_size(ctx.text)
        if images:
            name = images[0].name.rpartition(".")[0] or images[0].name
            await ctx.progress(0, f"Reading {images[0].name}")
            versions = await asyncio.to_thread(focus_versions, images[0], size)
        else:
            name = "fractal"
            await ctx.progress(0, "Drawing a fractal")
            versions = fractal_versions(ctx.text, size or (DEFAULT_SIDE, DEFAULT_SIDE))
    except Refused as exc:
        await (ctx.reject(str(exc)) if exc.reject else ctx.fail(str(exc)))
        return
    artifact_id: str | None = None
    version = None
    for step, draw in enumerate(versions, start=1):
        version = await asyncio.to_thread(draw)
        await ctx.progress(
            step * 100 // VERSIONS, f"Version {step} of {VERSIONS}: {version.detail}"
        )
        extension = "jpg" if version.media_type == JPEG else "png"
        part = file_part(
            version.data, media_type=version.media_type, filename=f"{name}.{extension}"
        )
        metadata = {"version": step, "versions": VERSIONS}
        artifact_id = await ctx.artifact(
            [part],
            name=name,
            artifact_id=artifact_id,
            last_chunk=step == VERSIONS,
            metadata={**metadata, "width": version.width, "height": version.height},
        )
        if step < VERSIONS:
            await asyncio.sleep(delay)
    assert version is not None
    await ctx.complete(f"{name}: {version.width}x{version.height} pixels, in focus.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=INFO.description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--delay",
        type=float,
        default=os.environ.get("IMAGE_RENDER_DELAY", "0.4"),
        help="least seconds between versions (default: $IMAGE_RENDER_DELAY or 0.4)",
    )
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay must not be negative")
    run(functools.partial(render, delay=args.delay), info=INFO, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
