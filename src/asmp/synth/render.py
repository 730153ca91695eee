"""Picture of the synthetic world: ray-cast ground and backdrop, z-buffered billboards.

Every pixel's ray is intersected with the ground plane and the backdrop plane (exact
perspective); both carry a procedural noise texture sampled with trilinear mip-mapping, so
texture is everywhere (for tracking and optical flow) without aliasing at grazing angles.
Objects are camera-facing billboards: a class-shaped, textured cut-out at the depth of the
object's centre, drawn with a z-buffer against the background and each other. Aerial haze
fades colours with depth. Depth is metres along the optical axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from asmp.geometry import project
from asmp.synth.scene import Scene, SceneObject

#: Texels per side of the (periodic) background texture tile, and metres per texel.
TILE = 512
GROUND_TEXEL = 0.02
BACKDROP_TEXEL = 0.1
#: Under-filtering allowed along the long axis of a pixel's footprint on a plane (see _lod).
ANISOTROPY = 2.0
#: Depth (m) given to a ray that meets neither plane.
FAR = 200.0
#: Sprite texels per metre of billboard.
SPRITE_PPM = 48
#: Billboards closer than this (m) are not drawn.
NEAR_CLIP = 0.1
#: An object is visible in a frame when at least this many of its pixels are.
MIN_VISIBLE_PIXELS = 16

_WRAP, _CLAMP = cv2.BORDER_WRAP, cv2.BORDER_CONSTANT

Primitive = tuple[str, tuple[float, ...], int]


@dataclass(frozen=True)
class Sprite:
    """A class's look: primitives in unit coordinates (x right, y down, the billboard spans
    ``[0,1]^2``) each painted as part ``i`` of ``colours``; a pattern (``bands``, ``stripes``,
    ``checker``, ``dots`` or ``rings``) of period ``period`` metres darkens the parts.

    ``rect`` is ``(x0, y0, x1, y1)``, ``ellipse`` ``(cx, cy, rx, ry)``, ``poly`` flat
    ``(x, y, ...)``. Every sprite covers its centre, where the object's depth is sampled.
    """

    parts: tuple[Primitive, ...]
    colours: tuple[tuple[float, float, float], ...]
    pattern: str
    period: float


SPRITES: dict[str, Sprite] = {
    "bell": Sprite(
        (("poly", (.3, .15, .7, .15, .86, .8, .14, .8), 0), ("ellipse", (.5, .2, .2, .12), 0),
         ("rect", (.06, .76, .94, .88), 1), ("ellipse", (.5, .93, .07, .07), 2),
         ("rect", (.45, 0, .55, .12), 2)),
        ((.78, .58, .2), (.55, .38, .12), (.25, .25, .28)), "bands", 0.3),
    "engine": Sprite(
        (("rect", (0, .35, 1, .8), 0), ("poly", (.2, .36, .3, .05, .66, .05, .76, .36), 1),
         ("ellipse", (.22, .82, .11, .18), 2), ("ellipse", (.78, .82, .11, .18), 2)),
        ((.75, .15, .12), (.55, .7, .85), (.1, .1, .1)), "stripes", 0.4),
    "bird": Sprite(
        (("ellipse", (.5, .55, .3, .18), 0), ("ellipse", (.8, .4, .13, .13), 0),
         ("poly", (.9, .36, 1, .42, .9, .48), 2), ("poly", (.3, .5, .58, .5, .28, 0), 1),
         ("poly", (.24, .5, 0, .34, 0, .72), 1)),
        ((.2, .35, .8), (.1, .15, .45), (.95, .75, .1)), "dots", 0.12),
    "dog": Sprite(
        (("ellipse", (.45, .45, .32, .18), 0), ("ellipse", (.82, .28, .14, .14), 0),
         ("poly", (.74, .18, .8, 0, .86, .18), 1), ("rect", (.17, .5, .25, 1), 1),
         ("rect", (.3, .5, .38, 1), 1), ("rect", (.56, .5, .64, 1), 1),
         ("rect", (.68, .5, .76, 1), 1), ("poly", (.15, .4, 0, .15, .05, .12, .2, .35), 1)),
        ((.6, .42, .25), (.35, .22, .12), (.1, .1, .1)), "checker", 0.2),
    "horn": Sprite(
        (("rect", (0, .42, .56, .58), 0), ("poly", (.5, .4, 1, .05, 1, .95, .5, .6), 1),
         ("rect", (.15, .3, .2, .42), 2), ("rect", (.27, .3, .32, .42), 2)),
        ((.85, .7, .2), (.95, .85, .35), (.5, .4, .1)), "rings", 0.15),
    "water": Sprite(
        (("rect", (.05, .65, .95, 1), 0), ("rect", (.4, .45, .6, .7), 2),
         ("ellipse", (.5, .38, .18, .38), 1), ("ellipse", (.3, .55, .12, .15), 1),
         ("ellipse", (.7, .55, .12, .15), 1)),
        ((.55, .55, .6), (.3, .6, .95), (.4, .4, .45)), "bands", 0.1),
    "person": Sprite(
        (("ellipse", (.5, .1, .2, .09), 0), ("rect", (.2, .2, .8, .58), 1),
         ("rect", (.02, .22, .18, .55), 1), ("rect", (.82, .22, .98, .55), 1),
         ("rect", (.25, .58, .47, 1), 2), ("rect", (.53, .58, .75, 1), 2)),
        ((.9, .72, .6), (.2, .55, .3), (.2, .2, .4)), "stripes", 0.08),
    "tree": Sprite(
        (("rect", (.42, .55, .58, 1), 0), ("ellipse", (.5, .35, .45, .33), 1),
         ("ellipse", (.3, .5, .2, .15), 1), ("ellipse", (.7, .5, .2, .15), 1)),
        ((.4, .28, .15), (.15, .45, .12)), "dots", 0.5),
    "crate": Sprite(
        (("rect", (0, 0, 1, 1), 0), ("rect", (0, .3, 1, .36), 1), ("rect", (0, .64, 1, .7), 1),
         ("poly", (0, .9, .9, 0, 1, .1, .1, 1), 1)),
        ((.7, .55, .35), (.45, .32, .18)), "checker", 0.25),
}  # fmt: skip


def noise(
    rng: np.random.Generator, shape: tuple[int, int], slopes: tuple[float, ...]
) -> np.ndarray:
    """Periodic noise ``[*shape, len(slopes)]`` float32, one zero-mean unit-std channel per
    spectral slope (power ~ 1/f^slope: 0 white, 2 blotchy)."""
    fy, fx = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    gain = f ** (-np.array(slopes)[:, None, None] / 2)
    gain[:, 0, 0] = 0.0  # zero mean
    x = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((len(slopes), *shape))) * gain, s=shape)
    x /= x.std(axis=(1, 2), keepdims=True)
    return np.moveaxis(x, 0, -1).astype(np.float32)


def pyramid(img: np.ndarray) -> list[np.ndarray]:
    """Mip levels of ``img`` ``[h,w,C]`` (level l is 2^l times smaller), down to ~2 texels."""
    levels = [img]
    while min(levels[-1].shape[:2]) >= 4:
        h, w = levels[-1].shape[:2]
        levels.append(
            cv2.resize(levels[-1], ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        )
    return levels


def sample_mip(
    levels: list[np.ndarray], u: np.ndarray, v: np.ndarray, lod: np.ndarray, border: int
) -> np.ndarray:
    """Trilinear texture lookup.

    Args:
        levels: :func:`pyramid` of a ``[h,w,C]`` float32 texture.
        u, v: ``[H,W]`` float32 texel coordinates at level 0 (texel centres at integers).
        lod: ``[H,W]`` level of detail (log2 of texels per pixel); blends adjacent levels.
        border: ``cv2.BORDER_WRAP`` (periodic) or ``cv2.BORDER_CONSTANT`` (zeros outside).

    Returns:
        ``[H,W,C]`` float32.
    """
    lod = np.clip(lod, 0, len(levels) - 1)
    row_lo, row_hi = lod.min(axis=1), lod.max(axis=1)
    out = np.zeros((*u.shape, levels[0].shape[2]), np.float32)
    for level in range(int(row_lo.min()), int(np.ceil(row_hi.max())) + 1):
        rows = np.flatnonzero((row_lo < level + 1) & (row_hi > level - 1))
        if not len(rows):
            continue
        band = slice(rows[0], rows[-1] + 1)
        img, scale = levels[level], 2.0**-level
        x, y = (u[band] + 0.5) * scale - 0.5, (v[band] + 0.5) * scale - 0.5
        if border == _WRAP and max(-x.min(), x.max(), -y.min(), y.max()) > 30000:
            # cv2 saturates coordinates beyond int16; wrapping is periodic anyway
            x, y = np.mod(x, img.shape[1]), np.mod(y, img.shape[0])
        got = cv2.remap(img, x, y, cv2.INTER_LINEAR, borderMode=border).reshape(*x.shape, -1)
        weight = np.clip(1 - np.abs(lod[band] - level), 0, 1)
        out[band] += weight[..., None] * got
    return out


def _lod(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Level of detail from the screen-space derivatives of texel coordinates: the pixel
    footprint's major axis, but at most ``ANISOTROPY`` times its minor axis, so that the
    ground at grazing angles keeps some texture instead of blurring to flat colour."""
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    a, b = ux * ux + vx * vx, uy * uy + vy * vy
    footprint = np.maximum(np.minimum(a, b), np.maximum(a, b) / ANISOTROPY**2)
    return 0.5 * np.log2(np.maximum(footprint, 1.0))


def _coloured(
    rng: np.random.Generator, grain: np.ndarray, bases: list[tuple[float, float, float]]
) -> list[np.ndarray]:
    """Mip levels of a plane's colour texture ``base + grain @ mix`` (RGB in [0, 1]; a fourth,
    constant channel only makes cv2's lookups faster): blotches shift brightness and hue a
    little, finer noise shifts brightness."""
    base = np.array(bases[rng.integers(len(bases))]) + rng.normal(0, 0.04, 3)
    hue = base / np.linalg.norm(base) + rng.normal(0, 0.1, 3)
    mix = np.stack([0.16 * hue / np.linalg.norm(hue), np.full(3, 0.1), np.full(3, 0.09)])
    rgb = base + np.tensordot(grain, mix, axes=1)
    return pyramid(np.dstack([rgb, np.ones(rgb.shape[:2])]).astype(np.float32))


GROUNDS = [(.32, .45, .2), (.45, .38, .27), (.62, .56, .42), (.45, .45, .43)]  # fmt: skip
BACKDROPS = [(.2, .32, .2), (.5, .47, .45), (.55, .32, .25), (.35, .45, .55)]  # fmt: skip


class Renderer:
    """Draws the frames of one scene (textures are drawn from the scene's seed)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        rng = np.random.default_rng([scene.seed, 0])
        grain = noise(rng, (TILE, TILE), (2.0, 1.5, 1.0))
        self.surfaces = (_coloured(rng, grain, GROUNDS), _coloured(rng, grain, BACKDROPS))
        self.haze = np.float32([0.72, 0.76, 0.8]) + rng.normal(0, 0.03, 3).astype(np.float32)
        self.haze_distance = rng.uniform(120, 250)
        K = scene.K
        self.ray_x = ((np.arange(scene.width) - K[0, 2]) / K[0, 0]).astype(np.float32)
        self.ray_y = ((np.arange(scene.height) - K[1, 2]) / K[1, 1]).astype(np.float32)
        self.sprites = [sprite_levels(o) for o in scene.objects]

    def background(self, rotation: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Colour ``[H,W,3]`` uint8 and depth ``[H,W]`` float32 (m) of ground and backdrop
        seen by a camera with camera-to-world ``rotation`` ``[3,3]`` at ``centre`` ``[3]``."""
        r, c = rotation.astype(np.float32), centre.astype(np.float32)
        # world direction (dx, dy, dz) of each pixel's ray (x, y, 1) in camera coordinates
        dx, dy, dz = (
            self.ray_x[None, :] * r[i, 0] + self.ray_y[:, None] * r[i, 1] + r[i, 2]
            for i in range(3)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            s_ground = np.where(dy > 0, (self.scene.ground_y - c[1]) / dy, np.inf)
            s_back = np.where(dz > 0, (self.scene.backdrop_z - c[2]) / dz, np.inf)
        on_ground = s_ground < s_back
        depth = np.minimum(np.minimum(s_ground, s_back), FAR).astype(np.float32)
        x = c[0] + depth * dx
        u = np.where(on_ground, x / GROUND_TEXEL, x / BACKDROP_TEXEL)
        v = np.where(
            on_ground, (c[2] + depth * dz) / GROUND_TEXEL, (c[1] + depth * dy) / BACKDROP_TEXEL
        )
        lod = _lod(u, v)
        colour = np.zeros((*depth.shape, 3), np.float32)
        for levels, mask in zip(self.surfaces, (on_ground, ~on_ground), strict=True):
            rows = np.flatnonzero(mask.any(axis=1))
            if len(rows):
                band = slice(rows[0], rows[-1] + 1)
                got = sample_mip(levels, u[band], v[band], lod[band], _WRAP)
                np.copyto(colour[band], got[..., :3], where=mask[band, :, None])
        return self._hazy(colour, depth[..., None]), depth

    def _hazy(self, colour: np.ndarray, depth: np.ndarray | float) -> np.ndarray:
        """Float RGB seen through ``depth`` metres of haze, as uint8."""
        fog = np.exp(-depth / self.haze_distance)
        return np.clip((colour * fog + self.haze * (1 - fog)) * 255 + 0.5, 0, 255).astype(np.uint8)

    def frame(
        self, background: tuple[np.ndarray, np.ndarray], positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One frame: RGB ``[H,W,3]`` uint8, depth ``[H,W]`` float32 (m), and the index of
        the object seen at each pixel ``[H,W]`` int8 (-1: background).

        Args:
            background: this frame's :meth:`background`.
            positions: ``[K,3]`` camera-frame object centres (m).
        """
        colour, depth = background[0].copy(), background[1].copy()
        instance = np.full(depth.shape, -1, np.int8)
        for k, (obj, levels) in enumerate(zip(self.scene.objects, self.sprites, strict=True)):
            self._draw(k, obj, levels, positions[k], colour, depth, instance)
        return colour, depth, instance

    def _draw(
        self,
        k: int,
        obj: SceneObject,
        levels: list[np.ndarray],
        p: np.ndarray,
        colour: np.ndarray,
        depth: np.ndarray,
        instance: np.ndarray,
    ) -> None:
        """Z-buffer the billboard of object ``k`` centred at camera-frame ``p`` into the frame."""
        if p[2] < NEAR_CLIP:
            return
        cx, cy = project(p, self.scene.K)
        (w, h), f = obj.size, self.scene.K[0, 0] / p[2]  # f: pixels per metre at depth p[2]
        x0, x1 = _pixel_span(cx, w * f / 2, self.scene.width)
        y0, y1 = _pixel_span(cy, h * f / 2, self.scene.height)
        if x0 > x1 or y0 > y1:
            return
        sh, sw = levels[0].shape[:2]
        sx = ((np.arange(x0, x1 + 1) - cx) / (w * f) + 0.5) * sw - 0.5
        sy = ((np.arange(y0, y1 + 1) - cy) / (h * f) + 0.5) * sh - 0.5
        u, v = np.meshgrid(sx.astype(np.float32), sy.astype(np.float32))
        lod = np.full(u.shape, np.log2(max(sw / (w * f), 1e-6)), np.float32)
        rgba = sample_mip(levels, u, v, lod, _CLAMP)
        alpha = rgba[..., 3]
        rect = np.s_[y0 : y1 + 1, x0 : x1 + 1]
        cover = (alpha > 0.5) & (p[2] < depth[rect])
        colour[rect][cover] = self._hazy(rgba[..., :3][cover] / alpha[cover, None], p[2])
        depth[rect][cover] = p[2]
        instance[rect][cover] = k


def _pixel_span(centre: float, half: float, n: int) -> tuple[int, int]:
    """First and last pixel (of ``0..n-1``, centres at integers) within ``centre +- half``."""
    return max(math.ceil(centre - half), 0), min(math.floor(centre + half), n - 1)


def _pattern(kind: str, x: np.ndarray, y: np.ndarray, period: float) -> np.ndarray:
    """0/1 pattern over billboard coordinates ``x, y`` (m)."""
    a, b = np.sin(2 * np.pi * x / period) > 0, np.sin(2 * np.pi * y / period) > 0
    if kind == "bands":
        return b
    if kind == "stripes":
        return a
    if kind == "checker":
        return a ^ b
    if kind == "rings":
        return np.sin(2 * np.pi * np.hypot(x - x.mean(), y - y.mean()) / period) > 0
    return np.hypot(np.mod(x, period) - period / 2, np.mod(y, period) - period / 2) < 0.3 * period


def paint_sprite(cls: str, size: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A billboard's texture ``[h,w,4]`` float32: colour premultiplied by alpha (0 or 1),
    at ``SPRITE_PPM`` texels per metre, with per-object colour jitter and fine noise."""
    sprite = SPRITES[cls]
    w, h = max(int(round(size[0] * SPRITE_PPM)), 4), max(int(round(size[1] * SPRITE_PPM)), 4)
    parts = np.zeros((h, w), np.uint8)
    for kind, params, part in sprite.parts:
        xy = np.reshape(params, (-1, 2)) * (w, h)
        if kind == "rect":
            xy = np.stack([xy[[0, 1, 1, 0], 0], xy[[0, 0, 1, 1], 1]], 1)
        fixed = np.round((xy - 0.5) * 16).astype(np.int32)  # 4 fractional bits, pixel centres
        if kind == "ellipse":
            axes = tuple(np.round(xy[1] * 16).astype(int).tolist())
            cv2.ellipse(
                parts, tuple(fixed[0].tolist()), axes, 0, 0, 360, part + 1, -1, cv2.LINE_8, 4
            )
        else:
            cv2.fillPoly(parts, [fixed], part + 1, cv2.LINE_8, 4)
    palette = np.clip(
        np.array(sprite.colours) + rng.normal(0, 0.06, (len(sprite.colours), 3)), 0, 1
    )
    ys, xs = np.mgrid[:h, :w] / SPRITE_PPM
    shade = 1 - 0.3 * _pattern(sprite.pattern, xs, ys, sprite.period)
    grain = 1 + 0.2 * noise(rng, (h, w), (0.5,))[..., 0]
    rgb = palette[np.maximum(parts, 1) - 1] * (shade * grain)[..., None]
    alpha = (parts > 0).astype(np.float32)
    return np.dstack([np.clip(rgb, 0, 1) * alpha[..., None], alpha]).astype(np.float32)


def sprite_levels(obj: SceneObject) -> list[np.ndarray]:
    """Mip levels of an object's billboard texture (drawn from its seed)."""
    return pyramid(paint_sprite(obj.cls, obj.size, np.random.default_rng([obj.seed, 0])))


def render_video(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All frames of a scene.

    Returns:
        ``frames`` ``[T,H,W,3]`` uint8 RGB, ``depth`` ``[T,H,W]`` float32 metres along the
        optical axis, ``instance`` ``[T,H,W]`` int8 index of the object seen at each pixel (-1:
        ground or backdrop).
    """
    renderer = Renderer(scene)
    times = scene.frame_times
    rotations, centres = scene.camera.rotation(times), scene.camera.centre(times)
    positions = scene.positions()
    out = []
    background = None
    for i in range(scene.n_frames):
        moved = i == 0 or not (
            np.array_equal(rotations[i], rotations[i - 1])
            and np.array_equal(centres[i], centres[i - 1])
        )
        if moved:
            background = renderer.background(rotations[i], centres[i])
        out.append(renderer.frame(background, positions[:, i]))
    frames, depth, instance = (np.stack(a) for a in zip(*out, strict=True))
    return frames, depth, instance


def boxes_from_instance(instance: np.ndarray, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-object boxes of the visible pixels.

    Args:
        instance: ``[T,H,W]`` object index per pixel (see :func:`render_video`).

    Returns:
        ``boxes`` ``[K,T,4]`` float32 ``x1, y1, x2, y2``: the extent of the visible pixels'
        squares (pixel ``i`` spans ``[i - 0.5, i + 0.5]``), NaN where not visible; and
        ``visible`` ``[K,T]`` bool (at least ``MIN_VISIBLE_PIXELS`` pixels).
    """
    T, H, W = instance.shape
    boxes = np.full((n_objects, T, 4), np.nan, np.float32)
    visible = np.zeros((n_objects, T), bool)
    for k in range(n_objects):
        mask = instance == k
        visible[k] = mask.sum(axis=(1, 2)) >= MIN_VISIBLE_PIXELS
        rows, cols = mask.any(axis=2), mask.any(axis=1)
        lo = np.stack([cols.argmax(axis=1), rows.argmax(axis=1)], axis=1) - 0.5
        hi = (
            np.stack([W - cols[:, ::-1].argmax(axis=1), H - rows[:, ::-1].argmax(axis=1)], axis=1)
            - 0.5
        )
        boxes[k, visible[k]] = np.concatenate([lo, hi], axis=1)[visible[k]]
    return boxes, visible
