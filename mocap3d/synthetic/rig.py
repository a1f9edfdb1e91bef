"""Synthetic camera rigs placed the way people set up phones and GoPros.

World frame: metres, Y up, X along the walkway, Z across it; the walkway is
centred on the origin. Cameras stand 0.8-1.8 m high, 3-8 m from the walkway
centre, and look at it. Each camera is a real device preset (image size,
field of view, lens distortion), so the rig has realistic intrinsics:

* ``phone_landscape`` 1920x1080, ``phone_portrait`` 1080x1920: main phone lens,
  26 mm full-frame equivalent, 16:9 video crop, horizontal FOV about 66 deg
  on the long side; mild barrel distortion left after the phone's own
  correction (k1 0.02-0.10).
* ``gopro_linear`` 3840x2160: GoPro "Linear" lens mode, horizontal FOV about
  86 deg, residual barrel distortion.
* ``gopro_wide`` 3840x2160 fisheye (equidistant model): "Wide" mode,
  horizontal FOV about 118 deg.

Distortion coefficients are drawn so that the distortion stays monotonic over
the whole image (no fold-over), as it does for real lenses.

Quick start::

    rig = make_rig(4, seed=0)            # CameraRig with the true calibration
    assert all(sees_volume(c, walkway_volume()) for c in rig)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..camera import Camera, CameraRig, matrix_to_rodrigues
from ..errors import Mocap3dError


@dataclass(frozen=True)
class DevicePreset:
    """A camera model: image size (w, h), horizontal FOV (deg), lens model."""

    name: str
    size: tuple[int, int]
    hfov_deg: float
    fisheye: bool = False


PRESETS: dict[str, DevicePreset] = {
    "phone_landscape": DevicePreset("phone_landscape", (1920, 1080), 66.0),
    "phone_portrait": DevicePreset("phone_portrait", (1080, 1920), 66.0 * 9 / 16 * 1.13),
    "gopro_linear": DevicePreset("gopro_linear", (3840, 2160), 86.0),
    "gopro_wide": DevicePreset("gopro_wide", (3840, 2160), 118.0, fisheye=True),
}


def look_at(position: np.ndarray, target: np.ndarray, roll_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rodrigues rotation (3,) and translation (3,) of a camera at ``position`` looking at ``target``.

    The image's y axis points down in the world (camera upright, Y up), then the
    camera is rolled by ``roll_deg`` about its optical axis.
    """
    position = np.asarray(position, float)
    z = np.asarray(target, float) - position
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    if np.linalg.norm(x) < 1e-9:
        raise Mocap3dError("look_at: camera looks straight up or down; move the camera or the target")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    a = np.radians(roll_deg)
    roll = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    R = roll @ R
    return matrix_to_rodrigues(R), -R @ position


def focal_from_hfov(width: int, hfov_deg: float, fisheye: bool) -> float:
    """Focal length (px) giving a horizontal FOV; equidistant model if fisheye."""
    half = np.radians(hfov_deg) / 2
    return (width / 2) / (half if fisheye else np.tan(half))


def _monotonic(dist: np.ndarray, r_max: float) -> bool:
    """True if the radial pinhole distortion r*(1+k1 r^2+k2 r^4+k3 r^6) grows up to r_max."""
    k1, k2, _, _, k3 = dist
    r = np.linspace(0, r_max, 200)
    r2 = r * r
    d = 1 + 3 * k1 * r2 + 5 * k2 * r2 ** 2 + 7 * k3 * r2 ** 3
    return bool(np.all(d > 0.2))


def draw_distortion(preset: DevicePreset, rng: np.random.Generator) -> np.ndarray:
    """Plausible distortion coefficients for a device: k1 k2 p1 p2 k3, or fisheye k1..k4."""
    if preset.fisheye:
        return np.array([rng.uniform(0.02, 0.08), rng.uniform(-0.04, 0.0),
                         rng.uniform(-0.005, 0.01), rng.uniform(-0.003, 0.0)])
    w, h = preset.size
    f = focal_from_hfov(w, preset.hfov_deg, False)
    r_max = np.hypot(w, h) / 2 / f
    lo, hi = (0.02, 0.10) if preset.name.startswith("phone") else (-0.12, -0.04)
    for _ in range(100):
        d = np.array([rng.uniform(lo, hi), rng.uniform(-0.15, 0.10), rng.normal(0, 5e-4),
                      rng.normal(0, 5e-4), rng.uniform(-0.02, 0.02)])
        if _monotonic(d, r_max * 1.1):
            return d
    return np.array([d[0], 0.0, d[2], d[3], 0.0])


def walkway_volume(length: float = 6.0, width: float = 1.0, height: float = 2.0) -> np.ndarray:
    """Corners (8, 3) of the box a walker occupies: X in +-length/2, Z in +-width/2, Y in [0, height]."""
    xs, ys, zs = (-length / 2, length / 2), (0.0, height), (-width / 2, width / 2)
    return np.array([[x, y, z] for x in xs for y in ys for z in zs])


def sees_volume(camera: Camera, points: np.ndarray, margin: float = 0.0) -> bool:
    """True if every point (N, 3) is in front of the camera and projects inside the image."""
    if np.any(camera.world_to_camera(points)[:, 2] <= 0.1):
        return False
    return bool(np.all(camera.in_image(camera.project(points), margin)))


def _default_kinds(azimuths: np.ndarray, fisheye: bool, rng: np.random.Generator) -> list[str]:
    """Portrait phones at the walkway ends (the walker fills the height), landscape at the sides,
    every third camera a GoPro."""
    kinds = []
    for i, az in enumerate(azimuths):
        along = abs(np.cos(az)) > np.cos(np.radians(40))  # near the walkway axis
        if fisheye:
            kinds.append("gopro_wide")
        elif i % 3 == 2:
            kinds.append("gopro_linear")
        else:
            kinds.append("phone_portrait" if along else "phone_landscape")
    return kinds


def make_camera(name: str, kind: str, position: np.ndarray, target: np.ndarray,
                rng: np.random.Generator, roll_deg: float = 0.0, distortion: bool = True) -> Camera:
    """A camera of a device preset at ``position`` looking at ``target``.

    Focal length varies +-3 % around the preset, the principal point is off
    centre by up to 1 % of the image size, pixels are square.
    """
    if kind not in PRESETS:
        raise Mocap3dError(f"camera kind {kind!r} is unknown; use one of {', '.join(PRESETS)}")
    p = PRESETS[kind]
    w, h = p.size
    f = focal_from_hfov(w, p.hfov_deg, p.fisheye) * rng.uniform(0.97, 1.03)
    cx, cy = w / 2 + rng.uniform(-0.01, 0.01) * w, h / 2 + rng.uniform(-0.01, 0.01) * h
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
    dist = draw_distortion(p, rng) if distortion else np.zeros(4 if p.fisheye else 5)
    rvec, tvec = look_at(position, target, roll_deg)
    return Camera(name, p.size, K, dist, rvec, tvec, fisheye=p.fisheye)


def make_rig(n_cameras: int = 4, *, walkway_length: float = 6.0, kinds: Sequence[str] | None = None,
             fisheye: bool = False, distortion: bool = True, seed: int = 0,
             margin_px: float = 20.0) -> CameraRig:
    """A rig of ``n_cameras`` around a walkway, each seeing the whole walking volume.

    Cameras are spread in azimuth around the walkway centre (random jitter),
    0.8-1.8 m high, at 3-8 m; a camera that cannot see the volume
    (``walkway_volume(walkway_length)`` within ``margin_px``) is moved back,
    and if 8 m is not enough its lens is zoomed out.

    Args:
        n_cameras: number of cameras (1 to any; 16+ works).
        walkway_length: metres (5-8 typical).
        kinds: device preset per camera (see ``PRESETS``); default mixes
            portrait phones at the walkway ends, landscape phones at the sides
            and GoPros.
        fisheye: all cameras GoPro wide (fisheye) when ``kinds`` is None.
        distortion: False gives distortion-free lenses.
        seed: random seed; the same seed gives the same rig.

    Returns:
        CameraRig named ``cam01``, ``cam02``... (true calibration).
    """
    if n_cameras < 1:
        raise Mocap3dError(f"n_cameras must be >= 1, got {n_cameras}")
    rng = np.random.default_rng(seed)
    step = 2 * np.pi / n_cameras
    az = np.radians(30.0) + step * np.arange(n_cameras) + rng.uniform(-0.25, 0.25, n_cameras) * step
    if kinds is None:
        kinds = _default_kinds(az, fisheye, rng)
    elif len(kinds) != n_cameras:
        raise Mocap3dError(f"kinds has {len(kinds)} entries for {n_cameras} cameras")
    volume = walkway_volume(walkway_length)
    cams = []
    for i, (a, kind) in enumerate(zip(az, kinds)):
        height = rng.uniform(0.8, 1.8)
        dist = rng.uniform(3.0, 5.0)
        target = np.array([rng.uniform(-0.3, 0.3), rng.uniform(0.8, 1.0), rng.uniform(-0.2, 0.2)])
        roll = rng.normal(0, 1.5)
        cam_seed = int(rng.integers(1 << 31))  # same intrinsics whatever the distance
        while True:
            pos = np.array([dist * np.cos(a), height, dist * np.sin(a)])
            cam = make_camera(f"cam{i + 1:02d}", kind, pos, target, np.random.default_rng(cam_seed),
                              roll, distortion)
            if sees_volume(cam, volume, margin_px) or dist >= 8.0:
                break
            dist = min(8.0, dist + 0.25)
        while not sees_volume(cam, volume, margin_px):
            cam.matrix[:2, :2] *= 0.95  # zoom out
        cams.append(cam)
    return CameraRig(cams)


#: Single-camera views: azimuth of the camera about the walkway centre (deg from +X, toward +Z) and device.
SINGLE_VIEWS: dict[str, tuple[float, str]] = {"side": (90.0, "phone_landscape"), "45": (45.0, "phone_landscape"),
                                              "frontal": (0.0, "phone_portrait")}


def single_camera_rig(view: str = "side", distance: float = 4.0, height: float = 1.1, *, kind: str | None = None,
                      distortion: bool = True, seed: int = 0) -> CameraRig:
    """One phone filming the walkway (a one-camera capture), named ``cam01``.

    ``view``: 'side' (sagittal: on the walker's right, optical axis across the
    walkway), '45' (ahead on the right, 45 deg), 'frontal' (straight ahead,
    the walker comes toward it). The camera stands ``distance`` m from the
    walkway centre (frontal: from the walkway's end at x = 1.5 m), ``height``
    m high, aimed at the walkway centre 0.9 m high; intrinsics drawn as in
    :func:`make_camera` (focal +-3 %, off-centre principal point, distortion).
    """
    if view not in SINGLE_VIEWS:
        raise Mocap3dError(f"view {view!r} is unknown; use one of {', '.join(SINGLE_VIEWS)}")
    az, default_kind = SINGLE_VIEWS[view]
    a = np.radians(az)
    reach = distance + (1.5 if view == "frontal" else 0.0)
    pos = np.array([reach * np.cos(a), height, reach * np.sin(a)])
    rng = np.random.default_rng(seed)
    return CameraRig([make_camera("cam01", kind or default_kind, pos, np.array([0.0, 0.9, 0.0]), rng, 0.0,
                                  distortion)])
