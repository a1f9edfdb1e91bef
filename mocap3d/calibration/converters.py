"""Converters between other systems' calibration files and our :class:`~mocap3d.camera.CameraRig`.

Readers return a ``CameraRig`` (OpenCV conventions, metres); writers take one.
Format facts (units, axes) follow each system's documentation and Pose2Sim's
converters, so that a Pose2Sim project gives the same cameras here:

* Qualisys ``.qca.txt`` (XML): per ``<camera>``: ``transform`` = camera
  orientation matrix (r11..r33, rows as written) and position (x y z, mm)
  in the lab frame (Z up), the Qualisys camera frame being OpenCV's turned a
  half turn about x; ``intrinsic`` focal lengths and centre point in
  sub-pixels (64 per pixel) of the full sensor, shifted by ``fov_video``
  left/top; ``video_resolution`` ("1080p", "720p", "540p") scales them from
  1080p; ``binning_factor`` divides them; distortion coefficients are read
  as Pose2Sim does (divided by 64 and by the binning factor). Only video
  cameras (model containing "video", "hybrid" or "none") are kept, sorted
  by natural order of their serial. ``viewrotation`` (0/90/180/270) rotates
  the image plane clockwise when ``apply_view_rotation`` is set.
* Vicon ``.xcp`` (XML): ``Camera`` elements with ``SYSTEM="DV"`` (video);
  ``KeyFrame`` FOCAL_LENGTH (px), PIXEL_ASPECT_RATIO, PRINCIPAL_POINT (sensor
  px), ORIENTATION quaternion (x y z w; camera -> world), POSITION (mm),
  VICON_RADIAL2 (k1 k2 in fields 4-5); image size from SENSOR_SIZE unless
  given; principal point shifted by the centred region of interest.
* OpenCap ``.pickle`` (one per camera): ``imageSize`` [[h], [w]],
  ``intrinsicMat``, ``distortion`` (1x5 k1 k2 p1 p2 k3), ``rotation`` (3x3
  world -> camera), ``translation`` (3x1 mm). OpenCap's world is the vertical
  board's (Y up); it is turned to Z up like Pose2Sim does (world' =
  Rz(pi) Rx(-pi/2) world).
* EasyMocap ``intri.yml`` / ``extri.yml`` (OpenCV FileStorage): ``names``,
  ``K_<n>``, ``dist_<n>`` (1x5), optional ``H_<n>``/``W_<n>``; ``R_<n>``
  (Rodrigues), ``Rot_<n>``, ``T_<n>`` (m).
* bioCV (one text file per camera): width, height, 3 rows of K, a blank
  line, 3 rows of [R | t] (t in mm), a blank line, distortion k1 k2 p1 p2 [k3].
* AniPose / Caliscope / FreeMoCap ``.toml``: read by
  :func:`mocap3d.io.calibration_toml.read_calibration` (FreeMoCap in mm).
"""
from __future__ import annotations

import io
import math
import pickle
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..camera import Camera, CameraRig, matrix_to_rodrigues, rodrigues_to_matrix
from ..errors import FileFormatError, Mocap3dError, file_error
from ..logs import atomic_path, atomic_write, get_logger

log = get_logger("calibration")

FLIP_YZ = np.diag([1.0, -1.0, -1.0])           # Qualisys camera frame <-> OpenCV camera frame
VIDEO_MODELS = ("video", "hybrid", "none")


def natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def rotate_image_plane(camera: Camera, quarter_turns_cw: int) -> Camera:
    """The same camera for an image rotated by ``quarter_turns_cw`` x 90 degrees clockwise."""
    k = quarter_turns_cw % 4
    cam = camera.copy()
    for _ in range(k):
        w, h = cam.size
        K = cam.matrix
        # clockwise quarter turn: new u = (h - 1) - v, new v = u ; camera frame turns about z
        Rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        K2 = np.array([[K[1, 1], 0.0, (h - 1) - K[1, 2]], [0.0, K[0, 0], K[0, 2]], [0.0, 0.0, 1.0]])
        d = cam.distortions.copy()
        if not cam.fisheye and d.size >= 4:
            p1, p2 = d[2], d[3]
            d[2], d[3] = p2, -p1
        R = Rz @ cam.R
        cam = cam.copy(size=(h, w), matrix=K2, distortions=d, rotation=matrix_to_rodrigues(R),
                       translation=Rz @ cam.translation)
    return cam


def _xml_root(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise file_error(path, f"cannot parse XML ({e})", "Re-export the calibration file") from None


def _f(path: Path, el: ET.Element, key: str) -> float:
    v = el.get(key)
    if v is None:
        raise file_error(path, f"<{el.tag}> has no attribute {key!r}", "Re-export the calibration file")
    try:
        return float(v)
    except ValueError:
        raise file_error(path, f"<{el.tag} {key}={v!r}> is not a number", "Re-export the calibration file") from None


# --- Qualisys -------------------------------------------------------------------------------------
def read_qualisys(path: str | Path, binning_factor: float = 1, apply_view_rotation: bool = True) -> tuple[CameraRig, dict]:
    """Cameras of a Qualisys ``.qca.txt``; also {name: avg-residual mm}."""
    path = Path(path)
    root = _xml_root(path)
    cams, residuals = [], {}
    for el in root.findall("cameras/camera"):
        if not any(m in el.get("model", "none").lower() for m in VIDEO_MODELS):
            continue
        name = el.get("serial") or f"cam_{len(cams)}"
        res_attr = el.get("video_resolution")
        scale = 1.0
        if res_attr not in (None, "N/A", ""):
            try:
                scale = float(res_attr.rstrip("pP")) / 1080.0
            except ValueError:
                raise file_error(path, f"camera {name}: video_resolution {res_attr!r} unknown", "Expect e.g. '1080p'") from None
        fov, intr, tr = el.find("fov_video"), el.find("intrinsic"), el.find("transform")
        if fov is None or intr is None or tr is None:
            raise file_error(path, f"camera {name} lacks fov_video, intrinsic or transform", "Re-export from QTM")
        b = float(binning_factor)
        left, top = _f(path, fov, "left"), _f(path, fov, "top")
        w = (_f(path, fov, "right") - left + 1) / b * scale
        h = (_f(path, fov, "bottom") - top + 1) / b * scale
        fu, fv = _f(path, intr, "focalLengthU") / 64 / b * scale, _f(path, intr, "focalLengthV") / 64 / b * scale
        cu = (_f(path, intr, "centerPointU") / 64 / b - left) * scale
        cv_ = (_f(path, intr, "centerPointV") / 64 / b - top) * scale
        dist = np.array([_f(path, intr, k) for k in ("radialDistortion1", "radialDistortion2",
                                                     "tangentalDistortion1", "tangentalDistortion2")]) / 64 / b
        M = np.array([[_f(path, tr, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
        pos = np.array([_f(path, tr, k) for k in "xyz"]) / 1000.0
        R = FLIP_YZ @ M
        cam = Camera(name, (int(round(w)), int(round(h))), [[fu, 0, cu], [0, fv, cv_], [0, 0, 1]], dist,
                     matrix_to_rodrigues(R), -R @ pos)
        rot = int(float(el.get("viewrotation", "0") or 0)) % 360
        if rot and apply_view_rotation:
            log.info("%s: camera %s has viewrotation %d: image plane turned %d deg clockwise", path, name, rot, rot)
            cam = rotate_image_plane(cam, rot // 90)
        elif rot:
            log.warning("%s: camera %s has viewrotation %d, not applied", path, name, rot)
        cams.append(cam)
        residuals[name] = float(el.get("avg-residual", "nan"))
    if not cams:
        raise file_error(path, "no video camera found", "Export a calibration that includes the video cameras")
    cams.sort(key=lambda c: natural_key(c.name))
    return CameraRig(cams), residuals


def write_qualisys(rig: CameraRig, path: str | Path, binning_factor: float = 1) -> Path:
    """Write cameras as a Qualisys ``.qca.txt`` (1080p base, fov from 0, viewrotation 0)."""
    b = float(binning_factor)
    root = ET.Element("calibration", {"source": "mocap3d", "type": "regular"})
    ET.SubElement(root, "results", {"std-dev": "0.", "min-max-diff": "0."})
    cams_el = ET.SubElement(root, "cameras")
    for cam in rig:
        if cam.fisheye:
            raise Mocap3dError(f"{cam.name}: Qualisys has no fisheye model; cannot export this camera")
        el = ET.SubElement(cams_el, "camera", {"active": "1", "avg-residual": "0", "model": "video",
                                               "serial": cam.name, "viewrotation": "0"})
        w, h = cam.size
        fov = {"left": "0", "top": "0", "right": repr(float(w * b - 1)), "bottom": repr(float(h * b - 1))}
        for tag in ("fov_marker", "fov_marker_max", "fov_video", "fov_video_max"):
            ET.SubElement(el, tag, fov)
        R = FLIP_YZ @ cam.R
        pos = cam.position * 1000.0
        attrs = {f"r{i + 1}{j + 1}": repr(float(R[i, j])) for i in range(3) for j in range(3)}
        attrs.update({k: repr(float(v)) for k, v in zip("xyz", pos)})
        ET.SubElement(el, "transform", attrs)
        K = cam.matrix
        d = np.zeros(4)
        d[:min(4, cam.distortions.size)] = cam.distortions[:4]
        if cam.distortions.size > 4 and cam.distortions[4] != 0:
            log.warning("%s: k3 = %g dropped (Qualisys export has k1 k2 p1 p2 only)", cam.name, cam.distortions[4])
        ET.SubElement(el, "intrinsic", {
            "focalLengthU": repr(float(K[0, 0] * 64 * b)), "focalLengthV": repr(float(K[1, 1] * 64 * b)),
            "centerPointU": repr(float(K[0, 2] * 64 * b)), "centerPointV": repr(float(K[1, 2] * 64 * b)),
            "radialDistortion1": repr(float(d[0] * 64 * b)), "radialDistortion2": repr(float(d[1] * 64 * b)),
            "radialDistortion3": "0.0", "tangentalDistortion1": repr(float(d[2] * 64 * b)),
            "tangentalDistortion2": repr(float(d[3] * 64 * b)), "skew": "0", "focallength": "0",
            "sensorMinU": "0", "sensorMaxU": repr(float(w * b * 64)), "sensorMinV": "0",
            "sensorMaxV": repr(float(h * b * 64))})
    ET.indent(root)
    with atomic_write(path, "wb") as fh:
        ET.ElementTree(root).write(fh, encoding="ascii", xml_declaration=True)
    return Path(path)


# --- Vicon ----------------------------------------------------------------------------------------
def quaternion_to_matrix(q: Sequence[float], scalar_last: bool = True) -> np.ndarray:
    """Rotation matrix of a unit quaternion (x y z w if ``scalar_last``)."""
    x, y, z, w = q if scalar_last else (q[1], q[2], q[3], q[0])
    n = math.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def read_vicon(path: str | Path, image_sizes: dict[str, tuple[int, int]] | None = None) -> tuple[CameraRig, dict]:
    """Video cameras of a Vicon ``.xcp``; also {name: WORLD_ERROR mm}. ``image_sizes`` {DEVICEID: (w, h)}."""
    path = Path(path)
    root = _xml_root(path)
    cams, errors = [], {}
    for el in root.iter("Camera"):
        if el.get("SYSTEM") != "DV":
            continue
        name = el.get("DEVICEID") or el.get("USERID") or f"cam_{len(cams)}"
        kf = el.find("KeyFrames/KeyFrame")
        if kf is None:
            raise file_error(path, f"camera {name} has no KeyFrames/KeyFrame", "Re-export from Nexus")
        sensor = [float(v) for v in (el.get("SENSOR_SIZE") or "0 0").split()]
        size = tuple(image_sizes.get(name, sensor)) if image_sizes else tuple(sensor)
        roi = [(sensor[i] - size[i]) / 2 for i in range(2)]
        f = _f(path, kf, "FOCAL_LENGTH")
        aspect = float(el.get("PIXEL_ASPECT_RATIO", "1"))
        pp = [float(v) for v in kf.get("PRINCIPAL_POINT", "0 0").split()]
        rad = kf.get("VICON_RADIAL2")
        k = [float(v) for v in rad.split()[3:5]] if rad else [float(v) for v in (kf.get("VICON_RADIAL") or "0 0").split()[:2]]
        q = [float(v) for v in kf.get("ORIENTATION", "0 0 0 1").split()]
        pos = np.array([float(v) for v in kf.get("POSITION", "0 0 0").split()]) / 1000.0
        R = quaternion_to_matrix(q).T                          # world -> camera
        cams.append(Camera(name, (int(size[0]), int(size[1])),
                           [[f, 0, pp[0] - roi[0]], [0, f / aspect, pp[1] - roi[1]], [0, 0, 1]],
                           [k[0], k[1], 0.0, 0.0], matrix_to_rodrigues(R), -R @ pos))
        errors[name] = float(kf.get("WORLD_ERROR", "nan"))
    if not cams:
        raise file_error(path, "no video (SYSTEM=\"DV\") camera found", "Export a calibration with the video cameras")
    cams.sort(key=lambda c: natural_key(c.name))
    return CameraRig(cams), errors


# --- OpenCap --------------------------------------------------------------------------------------
OPENCAP_TO_ZUP = (rodrigues_to_matrix(np.array([0.0, 0.0, np.pi]))
                  @ rodrigues_to_matrix(np.array([-np.pi / 2, 0.0, 0.0])))


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickler that only builds numpy arrays and plain containers (pickles can run code)."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "numpy" and name in ("_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_opencap(paths: Sequence[str | Path]) -> CameraRig:
    """Cameras of OpenCap ``.pickle`` files (one per camera, in the given order), Z-up world."""
    cams = []
    for i, p in enumerate(paths):
        p = Path(p)
        try:
            data = _NumpyUnpickler(io.BytesIO(p.read_bytes())).load()
            size = np.asarray(data["imageSize"]).ravel()[::-1]
            K = np.asarray(data["intrinsicMat"], float)
            dist = np.asarray(data["distortion"], float).ravel()
            R = np.asarray(data["rotation"], float) @ OPENCAP_TO_ZUP.T
            t = np.asarray(data["translation"], float).ravel() / 1000.0
        except (OSError, pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as e:
            raise file_error(p, f"not an OpenCap camera pickle ({e})", "Give the cameraIntrinsicsExtrinsics.pickle files") from None
        cams.append(Camera(f"cam_{i:02d}", (int(size[0]), int(size[1])), K, dist, matrix_to_rodrigues(R), t))
    return CameraRig(cams)


def write_opencap(rig: CameraRig, folder: str | Path) -> list[Path]:
    """One OpenCap pickle per camera (``<name>.pickle``) in ``folder``; returns the paths."""
    out = []
    for cam in rig:
        d = np.zeros(5)
        d[:min(5, cam.distortions.size)] = cam.distortions[:5]
        data = {"imageSize": np.array([[cam.size[1]], [cam.size[0]]], float), "intrinsicMat": cam.matrix.copy(),
                "distortion": d[None, :], "rotation": cam.R @ OPENCAP_TO_ZUP,
                "translation": (cam.translation * 1000.0)[:, None]}
        path = Path(folder) / f"{cam.name}.pickle"
        with atomic_write(path, "wb") as fh:
            pickle.dump(data, fh)
        out.append(path)
    return out


# --- EasyMocap ------------------------------------------------------------------------------------
def read_easymocap(intri_path: str | Path, extri_path: str | Path) -> CameraRig:
    """Cameras of EasyMocap ``intri.yml`` + ``extri.yml``."""
    intri_path, extri_path = Path(intri_path), Path(extri_path)
    for p in (intri_path, extri_path):
        if not p.is_file():
            raise file_error(p, "file not found", "Give EasyMocap's intri.yml and extri.yml")
    fi = cv2.FileStorage(str(intri_path), cv2.FILE_STORAGE_READ)
    fe = cv2.FileStorage(str(extri_path), cv2.FILE_STORAGE_READ)
    try:
        node = fi.getNode("names")
        if node.empty():
            raise file_error(intri_path, "no 'names' list", "Give EasyMocap's intri.yml")
        names = [node.at(i).string() for i in range(node.size())]
        cams = []
        for n in names:
            K = fi.getNode(f"K_{n}").mat()
            dist = fi.getNode(f"dist_{n}").mat()
            R = fe.getNode(f"R_{n}").mat()
            if R is None:
                Rot = fe.getNode(f"Rot_{n}").mat()
                R = None if Rot is None else matrix_to_rodrigues(Rot)
            T = fe.getNode(f"T_{n}").mat()
            if K is None or dist is None or R is None or T is None:
                raise file_error(intri_path if K is None or dist is None else extri_path,
                                 f"camera {n!r}: missing K_, dist_, R_/Rot_ or T_", "Re-export the EasyMocap calibration")
            hn, wn = fi.getNode(f"H_{n}"), fi.getNode(f"W_{n}")
            if not hn.empty() and not wn.empty():
                size = (int(wn.real()), int(hn.real()))
            else:
                size = (int(round(2 * K[0, 2])), int(round(2 * K[1, 2])))
                log.warning("%s: no H_%s/W_%s; image size taken as twice the principal point %s", intri_path, n, n, size)
            cams.append(Camera(n, size, K, dist.ravel(), np.ravel(R), np.ravel(T)))
    finally:
        fi.release()
        fe.release()
    return CameraRig(cams)


def write_easymocap(rig: CameraRig, folder: str | Path) -> tuple[Path, Path]:
    """Write ``intri.yml`` and ``extri.yml`` in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, writer in (("intri.yml", "intri"), ("extri.yml", "extri")):
        with atomic_path(folder / fname) as tmp:
            fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
            fs.startWriteStruct("names", cv2.FileNode_SEQ)
            for cam in rig:
                fs.write("", cam.name)
            fs.endWriteStruct()
            for cam in rig:
                if writer == "intri":
                    d = np.zeros(5)
                    d[:min(5, cam.distortions.size)] = cam.distortions[:5]
                    fs.write(f"K_{cam.name}", cam.matrix)
                    fs.write(f"dist_{cam.name}", d[None, :])
                    fs.write(f"H_{cam.name}", int(cam.size[1]))
                    fs.write(f"W_{cam.name}", int(cam.size[0]))
                else:
                    fs.write(f"R_{cam.name}", cam.rotation.reshape(3, 1))
                    fs.write(f"Rot_{cam.name}", cam.R)
                    fs.write(f"T_{cam.name}", cam.translation.reshape(3, 1))
            fs.release()
        paths.append(folder / fname)
    return paths[0], paths[1]


# --- bioCV ----------------------------------------------------------------------------------------
def read_biocv(paths: Sequence[str | Path]) -> CameraRig:
    """Cameras of bioCV calibration text files (one per camera, in the given order)."""
    cams = []
    for i, p in enumerate(paths):
        p = Path(p)
        try:
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
            w, h = int(float(lines[0])), int(float(lines[1]))
            K = np.array([[float(v) for v in lines[k].split()] for k in (2, 3, 4)])
            RT = np.array([[float(v) for v in lines[k].split()] for k in (6, 7, 8)])
            dist_line = [ln for ln in lines[9:] if ln][0]
            dist = np.array([float(v) for v in dist_line.split()])
        except (OSError, IndexError, ValueError) as e:
            raise file_error(p, f"not a bioCV calibration file ({e})", "Expect w, h, K (3 rows), blank, [R|t] (3 rows), blank, distortion") from None
        if K.shape != (3, 3) or RT.shape != (3, 4):
            raise file_error(p, "K must be 3x3 and [R|t] 3x4", "Fix the file")
        cams.append(Camera(f"cam_{i:02d}", (w, h), K, dist[:5], matrix_to_rodrigues(RT[:, :3]), RT[:, 3] / 1000.0))
    return CameraRig(cams)


# --- AniPose / Caliscope / FreeMoCap --------------------------------------------------------------
def read_toml_variant(path: str | Path, fmt: str) -> CameraRig:
    """AniPose, Caliscope or FreeMoCap ``.toml`` (FreeMoCap translations in mm)."""
    from ..io.calibration_toml import read_calibration
    return read_calibration(path, translation_units="mm" if fmt == "freemocap" else "auto")


from .optitrack import read_optitrack  # noqa: E402  OptiTrack Motive .mcal / Motive API values (see optitrack.py)


__all__ = ["read_qualisys", "write_qualisys", "read_vicon", "read_opencap", "write_opencap", "read_easymocap",
           "write_easymocap", "read_biocv", "read_toml_variant", "read_optitrack", "rotate_image_plane",
           "quaternion_to_matrix", "FileFormatError"]


# --- file-to-file entry points (used by calibration_tools/) ---------------------------------------
READ_FORMATS = ("qualisys", "vicon", "opencap", "easymocap", "biocv", "anipose", "caliscope", "freemocap")
WRITE_FORMATS = ("qualisys", "opencap", "easymocap")


def convert_to_toml(fmt: str, inputs: Sequence[str | Path], output: str | Path, binning_factor: float = 1,
                    apply_view_rotation: bool = True) -> Path:
    """Convert ``inputs`` of format ``fmt`` into our calibration TOML at ``output``."""
    from ..io.calibration_toml import write_calibration
    fmt = fmt.lower()
    inputs = [Path(p) for p in inputs]
    meta: dict[str, Any] = {"source": ", ".join(str(p) for p in inputs), "source_format": fmt}
    if fmt == "qualisys":
        rig, _ = read_qualisys(inputs[0], binning_factor, apply_view_rotation)
        meta["up_axis"] = "Z"
    elif fmt == "vicon":
        rig, _ = read_vicon(inputs[0])
        meta["up_axis"] = "Z"
    elif fmt == "opencap":
        rig = read_opencap(inputs)
        meta["up_axis"] = "Z"
    elif fmt == "easymocap":
        if len(inputs) != 2:
            raise Mocap3dError("EasyMocap needs two files: intri.yml extri.yml")
        intri, extri = sorted(inputs, key=lambda p: "extri" in p.name)
        rig = read_easymocap(intri, extri)
    elif fmt == "biocv":
        rig = read_biocv(inputs)
    elif fmt in ("anipose", "caliscope", "freemocap"):
        rig = read_toml_variant(inputs[0], fmt)
    elif fmt == "optitrack":
        rig = read_optitrack(inputs[0])
        meta["up_axis"] = "Y"
    else:
        raise Mocap3dError(f"unknown calibration format {fmt!r}; choose one of {', '.join(READ_FORMATS)}")
    return write_calibration(rig, output, meta)


def convert_from_toml(fmt: str, toml_path: str | Path, output: str | Path, binning_factor: float = 1) -> list[Path]:
    """Write our calibration TOML as ``fmt`` (a file for qualisys, a folder for opencap and easymocap)."""
    from ..io.calibration_toml import read_calibration
    rig = read_calibration(toml_path)
    fmt = fmt.lower()
    if fmt == "qualisys":
        return [write_qualisys(rig, output, binning_factor)]
    if fmt == "opencap":
        return write_opencap(rig, output)
    if fmt == "easymocap":
        return list(write_easymocap(rig, output))
    raise Mocap3dError(f"cannot write calibration format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")
