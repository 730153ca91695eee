"""Scenes of the synthetic world: camera path, objects and their 3D trajectories.

World frame (metres, seconds): X right, Y down, Z forward -- the camera's axes at mid-clip
before its small downward pitch. The ground is the plane ``Y = ground_y`` (> 0: below the
camera), the textured backdrop the plane ``Z = backdrop_z``. Camera frame: x right, y down,
z along the optical axis (the convention of :mod:`asmp.geometry`).

Sampling is split in two: :func:`plan_clips` deals the sound classes and camera motions of a
whole dataset so that both are balanced by construction, and :func:`sample_scene` draws one
clip's geometry from its own random stream (seed, index), so clips are independent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from asmp.geometry import intrinsics, project
from asmp.preprocess.common import window_starts
from asmp.preprocess.motion import LATTICE26, relative_displacement
from asmp.synth.catalogue import CLASSES, CONTEXT, VisualClass
from asmp.synth.options import CAMERA_MOTIONS, SynthOptions

#: Motions of a free object and their probabilities.
MOTIONS = ("static", "linear", "oscillate")
MOTION_P = (0.25, 0.4, 0.35)
#: A sampled object must have its centre in view and at least NEAR metres in front of the
#: camera in this fraction of the frames (else it is drawn again).
MIN_IN_VIEW = 0.8
NEAR = 2.0
#: Draws per object, and halvings of a draw's speed, before falling back to a static object
#: at the far end of the depth range.
MAX_TRIES = 100
SLOWDOWNS = 4
#: Depth ranges (m, along the mid-clip optical axis) of sounding and free context objects.
SOUNDING_DEPTH = (3.5, 15.0)
CONTEXT_DEPTH = (5.0, 30.0)
#: Camera limits: pitch (deg), pan rate (deg/s) and total sweep (deg), dolly speed (m/s) and
#: half-travel (m).
PITCH_DEG = (2.0, 8.0)
PAN_RATE_DEG = (2.0, 5.0)
PAN_SWEEP_DEG = 40.0
DOLLY_SPEED = (0.4, 1.5)
DOLLY_HALF_TRAVEL = 8.0


def _apply(T: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Batched rigid transform: ``T`` ``[...,4,4]`` applied to points ``[...,3]``."""
    return np.einsum("...ij,...j->...i", T[..., :3, :3], p) + T[..., :3, 3]


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera moving smoothly: constant yaw rate (pan) or velocity (dolly).

    Attributes:
        kind: ``none``, ``pan`` or ``dolly``.
        pitch: downward tilt of the optical axis (rad).
        yaw_rate: turn rate about the world's vertical axis (rad/s, positive turns right).
        velocity: ``(3,)`` world velocity of the camera centre (m/s).
        mid: time (s) at which the camera sits at the world origin with zero yaw.
    """

    kind: str
    pitch: float
    yaw_rate: float
    velocity: np.ndarray
    mid: float

    def centre(self, t: np.ndarray) -> np.ndarray:
        """``[N,3]`` world positions of the camera centre (m) at times ``t`` ``[N]`` (s)."""
        return np.outer(np.asarray(t, dtype=np.float64) - self.mid, self.velocity)

    def rotation(self, t: np.ndarray) -> np.ndarray:
        """``[N,3,3]`` camera-to-world rotations at times ``t`` ``[N]``."""
        yaw = self.yaw_rate * (np.asarray(t, dtype=np.float64) - self.mid)
        c, s, z, o = np.cos(yaw), np.sin(yaw), np.zeros_like(yaw), np.ones_like(yaw)
        r_yaw = np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(-1, 3, 3)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
        return r_yaw @ r_pitch

    def cam_T_world(self, t: np.ndarray) -> np.ndarray:
        """``[N,4,4]`` world-to-camera transforms at times ``t`` ``[N]``."""
        rt = np.swapaxes(self.rotation(t), -1, -2)
        out = np.zeros((len(rt), 4, 4))
        out[:, :3, :3] = rt
        out[:, :3, 3] = -np.einsum("nij,nj->ni", rt, self.centre(t))
        out[:, 3, 3] = 1
        return out


@dataclass(frozen=True, eq=False)
class Trajectory:
    """An object centre's path ``anchor + direction * s(t)`` (world, m).

    ``s(t)`` is 0 (static), ``speed (t - mid)`` (linear) or a sinusoid of peak speed
    ``speed`` and period ``period`` with ``s(mid) = 0`` (oscillate). Defined for every t, so
    sound can be emitted before the first frame.
    """

    anchor: np.ndarray
    direction: np.ndarray
    kind: str
    speed: float
    period: float
    phase: float
    mid: float

    def offset(self, t: np.ndarray) -> np.ndarray:
        """``[N]`` distance (m) along ``direction`` from ``anchor`` at times ``t`` ``[N]`` (s)."""
        dt = np.asarray(t, dtype=np.float64) - self.mid
        if self.kind == "linear":
            return self.speed * dt
        if self.kind == "oscillate":
            w = 2 * np.pi / self.period
            return self.speed / w * (np.sin(w * dt + self.phase) - np.sin(self.phase))
        return np.zeros_like(dt)

    def position(self, t: np.ndarray) -> np.ndarray:
        """``[N,3]`` world positions (m) at times ``t`` ``[N]`` (s)."""
        return self.anchor + np.outer(self.offset(t), self.direction)


@dataclass(frozen=True, eq=False)
class SceneObject:
    """An object: its class, whether it sounds, its path, and the seed of its appearance
    and timbre."""

    cls: str
    sounding: bool
    trajectory: Trajectory
    seed: int

    @property
    def size(self) -> tuple[float, float]:
        """Billboard ``(width, height)`` (m)."""
        return CLASSES[self.cls].size


@dataclass(frozen=True, eq=False)
class Scene:
    """One clip's world: camera, objects (sounding first), ground, backdrop and timing.

    ``seed`` drives the backdrop's texture and the ambience.
    """

    duration: float
    fps: float
    sample_rate: int
    height: int
    width: int
    hfov_deg: float
    camera: Camera
    objects: tuple[SceneObject, ...]
    ground_y: float
    backdrop_z: float
    seed: int

    @property
    def n_frames(self) -> int:
        return round(self.duration * self.fps)

    @property
    def n_samples(self) -> int:
        return round(self.duration * self.sample_rate)

    @property
    def frame_times(self) -> np.ndarray:
        """``[T]`` time (s) each frame shows."""
        return np.arange(self.n_frames) / self.fps

    @cached_property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsics
        """``[3,3]`` intrinsics."""
        return intrinsics(self.hfov_deg, self.width, self.height)

    @cached_property
    def cam_T_world(self) -> np.ndarray:
        """``[T,4,4]`` world-to-camera transform of each frame."""
        return self.camera.cam_T_world(self.frame_times)

    @property
    def sounding(self) -> list[SceneObject]:
        return [o for o in self.objects if o.sounding]

    def camera_positions(self, trajectory: Trajectory) -> np.ndarray:
        """``[T,3]`` a path's camera-frame positions (m) at each frame."""
        return _apply(self.cam_T_world, trajectory.position(self.frame_times))

    def positions(self) -> np.ndarray:
        """``[K,T,3]`` camera-frame object centres (m) at each frame."""
        return np.array([self.camera_positions(o.trajectory) for o in self.objects]).reshape(
            len(self.objects), self.n_frames, 3
        )

    def window_displacement(self, window_frames: int) -> np.ndarray:
        """``[K,W,3]`` true motion of each object centre over each window.

        Window ``w`` runs from its reference frame ``w L`` to its last frame ``w L + L - 1``;
        both positions are expressed in the reference frame's camera coordinates and the
        difference divided by the reference depth (:func:`relative_displacement`).
        """
        starts = window_starts(self.n_frames, window_frames)
        ref = self.cam_T_world[starts]
        t0, t1 = self.frame_times[starts], self.frame_times[starts + window_frames - 1]
        out = [
            relative_displacement(
                _apply(ref, o.trajectory.position(t0)), _apply(ref, o.trajectory.position(t1))
            )
            for o in self.objects
        ]
        return np.array(out).reshape(len(self.objects), len(starts), 3)

    def in_view(self, trajectory: Trajectory) -> float:
        """Fraction of frames with the path's point at least ``NEAR`` metres in front of the
        camera and projecting inside the image; 0 if it ever reaches the backdrop."""
        if np.max(trajectory.position(self.frame_times)[:, 2]) > self.backdrop_z - 2:
            return 0.0
        p = self.camera_positions(trajectory)
        front = p[:, 2] > NEAR
        xy = project(np.where(front[:, None], p, 1.0), self.K)
        inside = (
            (xy >= -0.5).all(axis=1)
            & (xy[:, 0] <= self.width - 0.5)
            & (xy[:, 1] <= self.height - 0.5)
        )
        return float(np.mean(front & inside))


@dataclass(frozen=True)
class ClipSpec:
    """What :func:`plan_clips` decides for one clip before its scene is drawn."""

    index: int
    seed: int
    classes: tuple[str, ...]
    camera: str

    @property
    def clip_id(self) -> str:
        return f"s{self.seed}_{self.index:05d}"


def _dealer(items: Sequence[str], rng: np.random.Generator) -> Callable[[int], tuple[str, ...]]:
    """``deal(n)``: the next ``n`` distinct items from a stream of shuffled decks.

    Every item is dealt once per deck, so over many hands all items are dealt equally often
    (to within a deck).
    """
    deck: list[str] = []

    def deal(n: int) -> tuple[str, ...]:
        hand: list[str] = []
        while len(hand) < n:
            pick = next((i for i, item in enumerate(deck) if item not in hand), None)
            if pick is None:
                deck.extend(rng.permutation(list(items)).tolist())
            else:
                hand.append(deck.pop(pick))
        return tuple(hand)

    return deal


def plan_clips(n_clips: int, seed: int, options: SynthOptions) -> list[ClipSpec]:
    """Sound classes and camera motion of clips ``0..n_clips-1``, balanced by construction.

    Clip ``i``'s plan depends only on ``seed``, ``i`` and the options: a larger dataset
    extends a smaller one.
    """
    rng = np.random.default_rng([seed, 0])
    classes, cameras = _dealer(options.classes, rng), _dealer(CAMERA_MOTIONS, rng)
    most = min(2, len(options.classes))
    plan = []
    for i in range(n_clips):
        hand = classes(options.sources or int(rng.integers(1, most + 1)))
        camera = cameras(1)[0] if options.camera == "random" else options.camera
        plan.append(ClipSpec(i, seed, hand, camera))
    return plan


def _sample_camera(kind: str, rng: np.random.Generator, duration: float) -> Camera:
    rate, velocity = 0.0, np.zeros(3)
    if kind == "pan":
        rate = min(rng.uniform(*PAN_RATE_DEG), PAN_SWEEP_DEG / duration) * rng.choice([-1, 1])
    if kind == "dolly":
        speed = min(rng.uniform(*DOLLY_SPEED), 2 * DOLLY_HALF_TRAVEL / duration)
        heading = rng.uniform(0, 2 * np.pi)
        velocity = speed * np.array([np.sin(heading), 0.0, np.cos(heading)])
    return Camera(
        kind, math.radians(rng.uniform(*PITCH_DEG)), math.radians(rate), velocity, duration / 2
    )


def _random_path(
    rng: np.random.Generator,
    vc: VisualClass,
    scene: Scene,
    sector: tuple[float, float],
    depth: tuple[float, float],
    static: bool = False,
) -> tuple[Trajectory, float]:
    """A path whose mid-clip position lies at a random depth in ``depth`` and direction in
    ``sector`` (fractions of the half field of view), at height 0, and the height (m) of the
    object's bottom above the ground at its lowest (0 unless the class flies)."""
    kind = "static" if static or vc.max_speed == 0 else str(rng.choice(MOTIONS, p=MOTION_P))
    direction = LATTICE26[rng.integers(len(LATTICE26))] + rng.normal(0, 0.2, 3)
    speed = 0.0
    if kind == "linear":
        speed = math.exp(rng.uniform(math.log(0.5), math.log(vc.max_speed)))
    if kind == "oscillate":
        speed = rng.uniform(0.3, 1.0) * vc.max_speed
    z = math.exp(rng.uniform(*np.log(depth)))
    x = z * math.tan(rng.uniform(*sector) * 0.85 * math.radians(scene.hfov_deg) / 2)
    path = Trajectory(
        np.array([x, 0.0, z]),
        direction / np.linalg.norm(direction),
        kind,
        speed,
        rng.uniform(1.5, 5.0),
        rng.uniform(0, 2 * np.pi),
        scene.duration / 2,
    )
    return path, rng.uniform(0.5, 4.0) if vc.flies else 0.0


def _stand(path: Trajectory, height: float, lift: float, scene: Scene) -> Trajectory:
    """``path`` moved vertically so that, at its lowest frame, the bottom of an object
    ``height`` metres tall is ``lift`` metres above the ground."""
    lowest = np.max(path.offset(scene.frame_times) * path.direction[1])
    anchor = path.anchor.copy()
    anchor[1] = scene.ground_y - lift - height / 2 - lowest
    return replace(path, anchor=anchor)


def _free_path(
    rng: np.random.Generator,
    vc: VisualClass,
    scene: Scene,
    sector: tuple[float, float],
    depth: tuple[float, float],
) -> Trajectory:
    """A random path that stays in view (see ``MIN_IN_VIEW``), slowed down by halves up to
    ``SLOWDOWNS`` times until it does; else a static object straight ahead."""
    for _ in range(MAX_TRIES):
        path, lift = _random_path(rng, vc, scene, sector, depth)
        for _ in range(SLOWDOWNS + 1):
            placed = _stand(path, vc.size[1], lift, scene)
            if scene.in_view(placed) >= MIN_IN_VIEW:
                return placed
            if path.speed == 0:
                break
            path = replace(path, speed=path.speed / 2)
    path, lift = _random_path(rng, vc, scene, (0.0, 0.0), (depth[1], depth[1]), static=True)
    return _stand(path, vc.size[1], lift, scene)


def _attached_path(rng: np.random.Generator, vc: VisualClass, anchor: SceneObject) -> Trajectory:
    """The anchor's path shifted to stand right beside it (overlapping it a little)."""
    (wa, ha), (wc, hc) = anchor.size, vc.size
    shift = np.array(
        [
            rng.choice([-1, 1]) * (wa + wc) / 2 * rng.uniform(0.7, 0.95),
            (ha - hc) / 2,
            rng.uniform(-0.5, 0.5),
        ]
    )
    return replace(anchor.trajectory, anchor=anchor.trajectory.anchor + shift)


def sample_scene(spec: ClipSpec, options: SynthOptions) -> Scene:
    """Draw one clip's world (no rendering): camera path, ground, backdrop and objects.

    Sounding objects come first, in ``spec.classes`` order; with two, one is drawn in each
    half of the view. Then 0-3 context objects, each either beside a sounding object that
    does not fly and moving with it, or free.
    """
    rng = np.random.default_rng([spec.seed, 1, spec.index])
    scene = Scene(
        options.duration,
        options.fps,
        options.sample_rate,
        options.height,
        options.width,
        options.hfov_deg,
        _sample_camera(spec.camera, rng, options.duration),
        (),
        rng.uniform(1.3, 2.0),
        rng.uniform(45.0, 70.0),
        int(rng.integers(2**31)),
    )
    sectors = [(-0.6, 0.6)] if len(spec.classes) == 1 else [(-1.0, -0.15), (0.15, 1.0)]
    objects = [
        SceneObject(
            cls,
            True,
            _free_path(rng, CLASSES[cls], scene, sector, SOUNDING_DEPTH),
            int(rng.integers(2**31)),
        )
        for cls, sector in zip(spec.classes, rng.permutation(sectors).tolist(), strict=True)
    ]
    grounded = [o for o in objects if not CLASSES[o.cls].flies]
    for _ in range(rng.integers(0, 4)):
        vc = CONTEXT[str(rng.choice(list(CONTEXT)))]
        if vc.attachable and grounded and rng.random() < 0.5:
            path = _attached_path(rng, vc, grounded[rng.integers(len(grounded))])
        else:
            path = _free_path(rng, vc, scene, (-1.0, 1.0), CONTEXT_DEPTH)
        objects.append(SceneObject(vc.name, False, path, int(rng.integers(2**31))))
    return replace(scene, objects=tuple(objects))
