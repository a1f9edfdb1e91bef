"""OptiTrack Motive camera calibrations -> :class:`~mocap3d.camera.CameraRig` (and back to ``.mcal``).

Two inputs are read:

* ``.mcal`` (Motive 3.2 and later: File > Export Calibration), an XML file;
* a small TOML of values read through the Motive API (Pose2Sim's documented
  manual path for older Motive versions), see :func:`read_optitrack_toml`.

Facts and their sources
-----------------------
From OptiTrack's own page ".mcal XML Calibration Files"
(docs.optitrack.com/motive/calibration/.mcal-xml-calibration-files, read in the
repository OptiTrack/OptiTrack-User-Docs-Motive):

* one ``<Camera Serial="M21614">`` element per camera with children
  ``<Properties CameraID=.. Orientation=..>``, ``<Attributes ImagerPixelWidth=..
  ImagerPixelHeight=..>``, ``<IntrinsicStandardCameraModel LensCenterX LensCenterY
  HorizontalFocalLength VerticalFocalLength k1 k2 k3 TangentialX TangentialY>``,
  ``<Extrinsic X Y Z OrientMatrix0 .. OrientMatrix8>`` and, for colour cameras only,
  ``<ColorCamera CameraResolution=..>`` (0: 1080, 1: 720, 2: 540, 3: 272 lines);
* two intrinsic models are stored: ``<Intrinsic>`` (OptiTrack's internal model,
  "not applicable for use in other contexts") and ``<IntrinsicStandardCameraModel>``
  (meant for OpenCV). Only the latter is read;
* the standard model "models the inverse of the lens distortion": applied to a
  point of the *distorted* image it gives the *undistorted* point. The page's
  sample code, with x = (u - cx)/fx, y = (v - cy)/fy, r2 = x^2 + y^2::

      x' = x (1 + k1 r2 + k2 r2^2 + k3 r2^3) + 2 tx x y + ty (r2 + x^2)
      y' = y (1 + k1 r2 + k2 r2^2 + k3 r2^3) + 2 ty x y + tx (r2 + y^2)

  (tx, ty = TangentialX, TangentialY). It is implemented literally here
  (:func:`motive_undistort_normalized`); note ``r2 + x^2`` where OpenCV's
  tangential term has ``r2 + 2 x^2``;
* ``OrientMatrix0..8`` form a row-major rotation matrix ("Motive uses Row Major
  rotation matrices"); X Y Z is the camera's location;
* the Motive API reference (TT_CameraXLocation/Y/Z) gives camera positions in
  metres in the global frame, and TT_CameraOrientationMatrix(camera, index) one
  component of the camera's orientation matrix in that frame. Motive's global
  frame is Y up, like ours, so no world change is made.

Not stated by OptiTrack, established otherwise:

* direction and camera axes of the matrix: its COLUMNS are the camera's x
  (image right), y (image UP) and z (pointing BACKWARD, the camera looks along
  -z) axes in the world, i.e. camera -> world with OpenGL-style camera axes. So
  OpenCV's world -> camera rotation is ``diag(1, -1, -1) @ M.T`` and the
  translation ``-R @ position``. Evidence: (1) the documentation's own sample
  camera at (1.22, 1.69, -0.83) m then looks 38 deg down towards the origin
  (11 deg off its optical axis, inside the 1280x1024 image) with its image up
  vector pointing up, while the other readings put the origin behind the
  camera, 77 deg off its axis, or turn the image upside down;
  (2) two independent public scripts that project Motive markers into Prime
  Color videos use exactly this (one as ``diag(1,-1,-1) @ M.T``, one as
  ``M.T`` with a negated fx, which gives the same pixels);
* the standard model's coefficients are indeed inverse (undistortion)
  coefficients: the documentation's Prime 13 and a Prime Color sample have
  k1 = +0.11 and +0.14, i.e. barrel distortion (usual for these wide lenses)
  when read as an undistortion model, pincushion if read as OpenCV's forward
  model; a public user report that reads them as OpenCV coefficients saw
  projection errors of tens to hundreds of pixels.
* ``.mcal`` files are UTF-16 (little endian, with a byte-order mark) according
  to the public parsers; UTF-8 files are read too.

Conversion of the distortion: OpenCV's model (our ``Camera``) is the forward
one (ideal -> distorted), so k1 k2 p1 p2 k3 are fitted by linear least squares
so that they reproduce Motive's inverse model on a grid over the whole image
(:func:`fit_opencv_distortion`). This is an approximation: the fit's RMS and
maximum pixel error are logged and returned (0.04 / 0.13 px for the
documentation's Prime 13 sample, 0.10 / 0.8 px, the maximum at the extreme
corners, for a stronger public Prime Color sample). ``distortion="opencv"`` reads the five numbers as
OpenCV coefficients instead (k1 k2 TangentialX TangentialY k3), as several
third-party scripts do.

Unverified (no real ``.mcal`` could be checked here):

* the orientation convention above is inferred (evidence listed), not stated;
* whether ``r2 + x^2`` in OptiTrack's sample is what Motive computes or a
  typo for OpenCV's ``r2 + 2 x^2`` (difference below 0.1 px for usual
  tangential coefficients);
* whether colour-camera intrinsics are in full-imager pixels when
  ``CameraResolution`` is not 1080: they are assumed so and scaled to the
  recorded resolution (``scale_color_resolution``), with a warning;
* ``Properties Orientation`` (a view rotation set in Motive's camera view) is
  not applied; a warning is logged when it is not 0;
* that TT_CameraOrientationMatrix(camera, i) equals OrientMatrix<i> of a
  ``.mcal`` (same matrix, same order);
* root layout: cameras are looked for anywhere in the file
  (``calibrationProfile/Calibration/Cameras/Camera`` in the public parsers).
"""
from __future__ import annotations

import codecs
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from ..camera import Camera, CameraRig
from ..errors import ConfigError, Mocap3dError, file_error
from ..logs import atomic_write, get_logger

log = get_logger("calibration")

GL_TO_CV = np.diag([1.0, -1.0, -1.0])      # Motive camera axes (y up, z backward) <-> OpenCV (y down, z forward)
COLOR_RESOLUTIONS = {0: 1080, 1: 720, 2: 540, 3: 272}   # ColorCamera CameraResolution -> image height
DISTORTION_MODELS = ("motive", "opencv")
CAMERA_CHOICES = ("auto", "color", "all")
FIT_GRID = 41                                # grid points per image side for the distortion fits


# --- pose ------------------------------------------------------------------------------------------
def _rodrigues(R: np.ndarray) -> np.ndarray:
    # OpenCV's conversion: upright cameras in a Y-up world turn by nearly a half turn, where
    # camera.matrix_to_rodrigues (arccos) loses up to ~1e-9 rad; cv2.Rodrigues stays near 1e-13.
    return cv2.Rodrigues(np.ascontiguousarray(R, dtype=float))[0].ravel()


def _nearest_rotation(M: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(M)
    return U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt


def motive_pose_to_extrinsics(position: Sequence[float], orient_matrix: Sequence[float] | np.ndarray
                              ) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world -> camera (Rodrigues (3,), translation (3,) m) of a Motive camera pose.

    ``position`` (3,) metres; ``orient_matrix`` 9 values row-major (or (3, 3)),
    columns = camera x right, y up, z backward in the world (see module notes).
    """
    M = _nearest_rotation(np.asarray(orient_matrix, float).reshape(3, 3))
    R = GL_TO_CV @ M.T
    return _rodrigues(R), -R @ np.asarray(position, float).reshape(3)


def extrinsics_to_motive_pose(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Motive position (3,) m and orientation matrix (3, 3) of a camera (inverse of the above)."""
    return camera.position, camera.R.T @ GL_TO_CV


# --- distortion ------------------------------------------------------------------------------------
def motive_undistort_normalized(xy: np.ndarray, coeffs: Sequence[float]) -> np.ndarray:
    """Motive's standard model: ideal normalized coordinates (..., 2) of distorted ones (..., 2).

    ``coeffs`` = (k1, k2, k3, TangentialX, TangentialY), as in OptiTrack's documentation.
    """
    k1, k2, k3, tx, ty = (float(c) for c in coeffs)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return np.stack([x * radial + 2 * tx * x * y + ty * (r2 + x * x),
                     y * radial + 2 * ty * x * y + tx * (r2 + y * y)], -1)


def _grid(size: tuple[int, int], n: int = FIT_GRID) -> np.ndarray:
    u, v = np.meshgrid(np.linspace(0, size[0] - 1, n), np.linspace(0, size[1] - 1, n))
    return np.stack([u.ravel(), v.ravel()], -1)


def _stats(res_px: np.ndarray) -> tuple[float, float]:
    e = np.hypot(res_px[0], res_px[1])
    return float(np.sqrt(np.mean(e * e))), float(e.max())


def fit_opencv_distortion(size: tuple[int, int], matrix: np.ndarray, coeffs: Sequence[float],
                          n: int = FIT_GRID) -> tuple[np.ndarray, float, float]:
    """OpenCV k1 k2 p1 p2 k3 (5,) reproducing Motive's inverse model over the image.

    Least squares on an ``n`` x ``n`` grid of distorted pixels spanning
    ``size`` (w, h); returns the coefficients and the RMS and maximum error in
    pixels of the forward model at those points.
    """
    if not np.any(np.asarray(coeffs, float)):
        return np.zeros(5), 0.0, 0.0
    K = np.asarray(matrix, float)
    fx, fy = K[0, 0], K[1, 1]
    uv = _grid(size, n)
    xy = np.stack([(uv[:, 0] - K[0, 2]) / fx, (uv[:, 1] - K[1, 2]) / fy], -1)    # distorted
    x, y = motive_undistort_normalized(xy, coeffs).T                              # ideal
    r2 = x * x + y * y
    ax = np.stack([x * r2, x * r2 ** 2, 2 * x * y, r2 + 2 * x * x, x * r2 ** 3], 1) * fx
    ay = np.stack([y * r2, y * r2 ** 2, r2 + 2 * y * y, 2 * x * y, y * r2 ** 3], 1) * fy
    A = np.vstack([ax, ay])
    b = np.concatenate([(xy[:, 0] - x) * fx, (xy[:, 1] - y) * fy])
    c = np.linalg.lstsq(A, b, rcond=None)[0]
    rms, mx = _stats((A @ c - b).reshape(2, -1))
    return c, rms, mx


def fit_motive_distortion(camera: Camera, n: int = FIT_GRID) -> tuple[np.ndarray, float, float]:
    """Motive (k1, k2, k3, TangentialX, TangentialY) approximating a camera's OpenCV distortion.

    Least squares on an ``n`` x ``n`` grid of distorted pixels over the image;
    returns the coefficients and the RMS and maximum error in (undistorted) pixels.
    """
    if camera.fisheye:
        raise Mocap3dError(f"{camera.name}: fisheye cameras have no Motive standard-model equivalent")
    if not np.any(camera.distortions):
        return np.zeros(5), 0.0, 0.0
    fx, fy = camera.matrix[0, 0], camera.matrix[1, 1]
    xy = camera.pixels_to_normalized(_grid(camera.size, n))
    x, y = xy[:, 0], xy[:, 1]
    ideal = camera.undistort_normalized(xy)
    r2 = x * x + y * y
    ax = np.stack([x * r2, x * r2 ** 2, x * r2 ** 3, 2 * x * y, r2 + x * x], 1) * fx
    ay = np.stack([y * r2, y * r2 ** 2, y * r2 ** 3, r2 + y * y, 2 * x * y], 1) * fy
    A = np.vstack([ax, ay])
    b = np.concatenate([(ideal[:, 0] - x) * fx, (ideal[:, 1] - y) * fy])
    c = np.linalg.lstsq(A, b, rcond=None)[0]
    rms, mx = _stats((A @ c - b).reshape(2, -1))
    return c, rms, mx


def _opencv_from_motive(coeffs: Sequence[float]) -> np.ndarray:
    k1, k2, k3, tx, ty = coeffs
    return np.array([k1, k2, tx, ty, k3], float)


# --- .mcal reading ---------------------------------------------------------------------------------
def _xml_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise file_error(path, f"cannot read ({e})", "Give the .mcal exported by Motive (File > Export Calibration)") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    elif len(data) > 1 and data[1] == 0 and data[0] != 0:
        enc = "utf-16-le"
    elif len(data) > 1 and data[0] == 0:
        enc = "utf-16-be"
    else:
        enc = "utf-8-sig"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as e:
        raise file_error(path, f"cannot decode as {enc} ({e})", "Re-export the calibration from Motive") from None
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text)      # the declaration may name another encoding


def _attr(path: Path, el: ET.Element | None, key: str, who: str) -> float:
    if el is None:
        raise file_error(path, f"camera {who}: element missing for {key!r}", "Re-export the calibration from Motive 3.2+")
    v = el.get(key)
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise file_error(path, f"camera {who}: <{el.tag} {key}={v!r}> is not a number",
                         "Re-export the calibration from Motive 3.2+") from None


def _is_color(el: ET.Element) -> bool:
    props = el.find("Properties")
    return (el.find("ColorCamera") is not None or re.match(r"C\d", el.get("Serial") or "") is not None
            or (props is not None and props.get("ImagerIndex") == "30"))


def _mcal_camera(path: Path, el: ET.Element, distortion: str, scale_color_resolution: bool
                 ) -> tuple[Camera, dict[str, Any]]:
    serial = el.get("Serial") or ""
    props, attrs = el.find("Properties"), el.find("Attributes")
    std, ext = el.find("IntrinsicStandardCameraModel"), el.find("Extrinsic")
    if std is None:
        raise file_error(path, f"camera {serial}: no <IntrinsicStandardCameraModel> (only OptiTrack's internal "
                         "model, not usable outside Motive)", "Export the calibration with Motive 3.2 or later")
    w, h = int(_attr(path, attrs, "ImagerPixelWidth", serial)), int(_attr(path, attrs, "ImagerPixelHeight", serial))
    fx, fy = _attr(path, std, "HorizontalFocalLength", serial), _attr(path, std, "VerticalFocalLength", serial)
    cx, cy = _attr(path, std, "LensCenterX", serial), _attr(path, std, "LensCenterY", serial)
    coeffs = [_attr(path, std, k, serial) for k in ("k1", "k2", "k3", "TangentialX", "TangentialY")]
    pos = [_attr(path, ext, k, serial) for k in "XYZ"]
    M = np.array([_attr(path, ext, f"OrientMatrix{i}", serial) for i in range(9)]).reshape(3, 3)
    if np.abs(M @ M.T - np.eye(3)).max() > 1e-4 or np.linalg.det(M) < 0:
        raise file_error(path, f"camera {serial}: OrientMatrix0..8 is not a rotation matrix", "Re-export the calibration")
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if distortion == "motive":
        dist, rms, mx = fit_opencv_distortion((w, h), K, coeffs)
    else:
        dist, rms, mx = _opencv_from_motive(coeffs), float("nan"), float("nan")
    color = el.find("ColorCamera")
    res = int(_attr(path, color, "CameraResolution", serial)) if color is not None and color.get("CameraResolution") else 0
    if res and scale_color_resolution:
        lines = COLOR_RESOLUTIONS.get(res)
        if lines is None:
            raise file_error(path, f"camera {serial}: CameraResolution {res} unknown", "Expect 0 to 3")
        s = lines / h
        log.warning("%s: camera %s records %d lines: intrinsics of the %dx%d imager scaled by %.4f (assumed, "
                    "not documented by OptiTrack)", path, serial, lines, w, h, s)
        K[:2] *= s
        w, h = int(round(w * s)), lines
    view = _attr(path, props, "Orientation", serial) if props is not None and props.get("Orientation") else 0.0
    if view:
        log.warning("%s: camera %s has a view Orientation of %g in Motive; not applied", path, serial, view)
    rvec, t = motive_pose_to_extrinsics(pos, M)
    cid = props.get("CameraID") if props is not None else None
    info = {"serial": serial, "camera_id": int(float(cid)) if cid not in (None, "") else None,
            "color": _is_color(el), "distortion_fit_rms_px": rms, "distortion_fit_max_px": mx}
    return Camera(serial or f"cam_{cid}", (w, h), K, dist, rvec, t), info


def read_mcal(path: str | Path, distortion: str = "motive", cameras: str = "auto",
              scale_color_resolution: bool = True) -> tuple[CameraRig, dict[str, dict]]:
    """Cameras of a Motive ``.mcal``, ordered by Motive's camera number (CameraID).

    Args:
        distortion: 'motive' (the documented inverse model, fitted to OpenCV's)
            or 'opencv' (the five numbers taken as OpenCV k1 k2 p1 p2 k3).
        cameras: 'auto' (colour cameras if there are any, else all), 'color' or 'all'.
        scale_color_resolution: scale colour-camera intrinsics to the recorded
            CameraResolution (assumed full-imager pixels in the file).

    Returns:
        the rig (cameras named by serial) and {serial: info} with camera_id,
        color, distortion_fit_rms_px and distortion_fit_max_px.
    """
    path = Path(path)
    if distortion not in DISTORTION_MODELS:
        raise ConfigError(f"OptiTrack distortion = {distortion!r}; choose one of {', '.join(DISTORTION_MODELS)}")
    if cameras not in CAMERA_CHOICES:
        raise ConfigError(f"OptiTrack cameras = {cameras!r}; choose one of {', '.join(CAMERA_CHOICES)}")
    try:
        root = ET.fromstring(_xml_text(path))
    except ET.ParseError as e:
        raise file_error(path, f"cannot parse XML ({e})", "Give the .mcal exported by Motive") from None
    els = [el for el in root.iter("Camera") if el.find("Extrinsic") is not None]
    if not els:
        raise file_error(path, "no <Camera> with an <Extrinsic> element", "Give a calibrated .mcal exported by Motive 3.2+")
    if cameras == "color" or (cameras == "auto" and any(_is_color(el) for el in els)):
        dropped = [el.get("Serial") for el in els if not _is_color(el)]
        els = [el for el in els if _is_color(el)]
        if dropped:
            log.info("%s: colour cameras only; %d other camera(s) left out: %s", path, len(dropped), ", ".join(map(str, dropped)))
        if not els:
            raise file_error(path, "no colour camera", "Set calibration.convert.optitrack.cameras = 'all'")
    pairs = [_mcal_camera(path, el, distortion, scale_color_resolution) for el in els]
    pairs.sort(key=lambda p: (p[1]["camera_id"] is None, p[1]["camera_id"] or 0,
                              [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p[1]["serial"])]))
    for cam, info in pairs:
        if distortion == "motive" and info["distortion_fit_max_px"] > 0:
            log.info("%s: camera %s distortion converted from Motive's inverse model: fit RMS %.3f px, max %.3f px",
                     path, cam.name, info["distortion_fit_rms_px"], info["distortion_fit_max_px"])
    names = [c.name for c, _ in pairs]
    if len(set(names)) != len(names):
        raise file_error(path, "two cameras have the same Serial", "Fix the Serial attributes")
    return CameraRig([c for c, _ in pairs]), {c.name: i for c, i in pairs}


# --- .mcal writing ---------------------------------------------------------------------------------
def write_mcal(rig: CameraRig, path: str | Path) -> tuple[Path, dict[str, dict]]:
    """Write cameras as a ``.mcal`` (UTF-16 with BOM) holding what third-party readers use.

    Per camera: Properties (CameraID = rank + 1), Attributes (image size),
    IntrinsicStandardCameraModel (distortion fitted to Motive's inverse model)
    and Extrinsic. Motive's internal model and settings are not written, so
    Motive itself may not import the file. Returns the path and {name: fit
    RMS/max px of the distortion}.
    """
    root = ET.Element("calibrationProfile", {"version": "1"})
    cams_el = ET.SubElement(ET.SubElement(root, "Calibration"), "Cameras", {"Count": str(len(rig))})
    fits: dict[str, dict] = {}
    for i, cam in enumerate(rig):
        coeffs, rms, mx = fit_motive_distortion(cam)
        fits[cam.name] = {"distortion_fit_rms_px": rms, "distortion_fit_max_px": mx}
        if abs(cam.matrix[0, 1]) > 1e-12:
            raise Mocap3dError(f"{cam.name}: skewed intrinsic matrix cannot be written to .mcal")
        el = ET.SubElement(cams_el, "Camera", {"Serial": cam.name})
        ET.SubElement(el, "Properties", {"CameraID": str(i + 1), "Orientation": "0"})
        ET.SubElement(el, "Attributes", {"ImagerPixelWidth": str(cam.size[0]), "ImagerPixelHeight": str(cam.size[1])})
        K = cam.matrix
        std = {"LensCenterX": K[0, 2], "LensCenterY": K[1, 2], "HorizontalFocalLength": K[0, 0],
               "VerticalFocalLength": K[1, 1], "k1": coeffs[0], "k2": coeffs[1], "k3": coeffs[2],
               "TangentialX": coeffs[3], "TangentialY": coeffs[4]}
        ET.SubElement(el, "IntrinsicStandardCameraModel", {k: repr(float(v)) for k, v in std.items()})
        pos, M = extrinsics_to_motive_pose(cam)
        ext = {k: repr(float(v)) for k, v in zip("XYZ", pos)}
        ext.update({f"OrientMatrix{j}": repr(float(v)) for j, v in enumerate(M.ravel())})
        ET.SubElement(el, "Extrinsic", ext)
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    with atomic_write(path, "wb") as fh:
        fh.write(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    return Path(path), fits


# --- values from the Motive API (Pose2Sim's manual path) ---------------------------------------------
def read_optitrack_toml(path: str | Path) -> CameraRig:
    """Cameras from a TOML of values read through the Motive API, one table per camera, in file order::

        [cam01]
        size = [1920, 1080]                  # pixels (TT_CameraPixelResolution)
        position = [x, y, z]                 # metres (TT_CameraXLocation, YLocation, ZLocation)
        orientation_matrix = [m0, ..., m8]   # TT_CameraOrientationMatrix(camera, 0..8), row-major
        matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]   # pixels, e.g. from intrinsics with a board
        distortions = [k1, k2, p1, p2, k3]   # OpenCV coefficients (e.g. from our intrinsics)
        # or, instead of distortions, Motive's standard (inverse) model:
        # motive_distortion = [k1, k2, k3, tangential_x, tangential_y]

    Tables without ``position`` (e.g. ``[metadata]``) are ignored. These raw values
    must not be pasted into a ``Calib*.toml`` as Pose2Sim's README suggests: the
    position is the camera centre, not the world -> camera translation, and the
    matrix is camera -> world with y-up / z-backward camera axes (module notes).
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise file_error(path, f"cannot read TOML ({e})", "See read_optitrack_toml for the layout") from None
    cams = []
    for name, t in doc.items():
        if not isinstance(t, dict) or "position" not in t:
            continue
        try:
            size = (int(t["size"][0]), int(t["size"][1]))
            K = np.asarray(t["matrix"], float).reshape(3, 3)
            M = np.asarray(t["orientation_matrix"], float).reshape(3, 3)
            pos = np.asarray(t["position"], float).reshape(3)
            if "motive_distortion" in t:
                dist = fit_opencv_distortion(size, K, np.asarray(t["motive_distortion"], float).reshape(5))[0]
            else:
                dist = np.asarray(t.get("distortions", [0.0, 0.0, 0.0, 0.0]), float).ravel()
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise file_error(path, f"[{name}]: missing or malformed key ({e})",
                             "Give size, position, orientation_matrix, matrix and distortions") from None
        if np.abs(M @ M.T - np.eye(3)).max() > 1e-4 or np.linalg.det(M) < 0:
            raise file_error(path, f"[{name}]: orientation_matrix is not a rotation matrix", "Copy the 9 values in order 0..8")
        rvec, t_ = motive_pose_to_extrinsics(pos, M)
        cams.append(Camera(str(t.get("name", name)), size, K, dist, rvec, t_))
    if not cams:
        raise file_error(path, "no camera table with a 'position' key", "See read_optitrack_toml for the layout")
    return CameraRig(cams)


# --- entry points ------------------------------------------------------------------------------------
def find_optitrack_source(folder: str | Path) -> Path:
    """The newest ``*.mcal`` of a folder, else its ``*optitrack*.toml`` (Motive API values)."""
    folder = Path(folder)
    for pattern in ("*.mcal", "*optitrack*.toml"):
        files = sorted(folder.glob(pattern), key=lambda p: (p.stat().st_mtime, p.name))
        if files:
            return files[-1]
    raise Mocap3dError(f"{folder}: no *.mcal (Motive File > Export Calibration) nor *optitrack*.toml (Motive API "
                       "values) found. Put one in the calibration folder")


def read_optitrack_info(path: str | Path, distortion: str = "motive", cameras: str = "auto",
                        scale_color_resolution: bool = True) -> tuple[CameraRig, dict[str, dict]]:
    """Cameras of an OptiTrack ``.mcal`` or Motive-API TOML (a folder: its source is looked for).

    Also {camera: info} (see :func:`read_mcal`; empty for a TOML source).
    """
    path = Path(path)
    if path.is_dir():
        path = find_optitrack_source(path)
    if path.suffix.lower() == ".toml":
        return read_optitrack_toml(path), {}
    return read_mcal(path, distortion, cameras, scale_color_resolution)


def read_optitrack(path: str | Path, distortion: str = "motive", cameras: str = "auto",
                   scale_color_resolution: bool = True) -> CameraRig:
    """Cameras of an OptiTrack ``.mcal`` or Motive-API TOML (a folder: its source is looked for)."""
    return read_optitrack_info(path, distortion, cameras, scale_color_resolution)[0]


def optitrack_options(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments of :func:`read_optitrack` from ``[calibration.convert.optitrack]``."""
    section = section if isinstance(section, Mapping) else {}
    return {"distortion": str(section.get("distortion", "motive")).lower(),
            "cameras": str(section.get("cameras", "auto")).lower(),
            "scale_color_resolution": bool(section.get("scale_color_resolution", True))}


__all__ = ["read_mcal", "write_mcal", "read_optitrack_toml", "read_optitrack", "read_optitrack_info", "find_optitrack_source",
           "optitrack_options", "motive_pose_to_extrinsics", "extrinsics_to_motive_pose",
           "motive_undistort_normalized", "fit_opencv_distortion", "fit_motive_distortion"]
