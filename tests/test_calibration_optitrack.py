"""OptiTrack Motive calibrations: .mcal samples written here from OptiTrack's documented layout.

Truth comes from synthetic rigs; the .mcal is built by the test itself
(Camera Serial / Properties / Attributes / IntrinsicStandardCameraModel /
Extrinsic, UTF-16 with BOM), with the camera pose in Motive's convention:
position in metres and a row-major matrix whose columns are the camera's
x (right), y (up), z (backward) axes in the Y-up world.
"""
from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pytest

from mocap3d.calibration import optitrack as ot
from mocap3d.camera import Camera, CameraRig
from mocap3d.errors import FileFormatError, Mocap3dError
from mocap3d.io.calibration_toml import read_calibration
from mocap3d.synthetic.rig import make_rig, walkway_volume

# OptiTrack's documentation sample (Prime 13, 1280x1024)
DOC_INTRINSICS = dict(LensCenterX=637.832275390625, LensCenterY=510.441009521484375,
                      HorizontalFocalLength=1201.796875, VerticalFocalLength=1203.6328125)
DOC_DISTORTION = (0.107947303735803, -0.099437290976564, -0.000059653579376, -0.00082290746721, 0.000262822252969)
DOC_POSITION = (1.221071839332581, 1.693764686584473, -0.834836781024933)
DOC_ORIENT = (-0.684483869006766, -0.344133882888445, 0.642692542136324, 0.188509695729104, 0.768044864618728,
              0.612022205927955, -0.704234284656498, 0.540073102997105, -0.460841746951629)


def _camera_xml(serial: str, cid: int, size, intr: dict, coeffs, pos, orient, color_res: int | None = None) -> str:
    k1, k2, k3, tx, ty = coeffs
    f = lambda v: repr(float(v))  # noqa: E731
    orient_attrs = " ".join(f'OrientMatrix{i}="{f(v)}"' for i, v in enumerate(np.ravel(orient)))
    color = f'\n        <ColorCamera CameraResolution="{color_res}"/>' if color_res is not None else ""
    return f"""      <Camera Serial="{serial}">
        <Properties CameraID="{cid}" ImagerIndex="00" Exposure="250" Orientation="0.000000000000000" Enabled="1"/>
        <Attributes DeviceName="Prime 13 #{serial}" ImagerPixelWidth="{size[0]}" ImagerPixelHeight="{size[1]}"/>
        <Intrinsic LensCenterX="1" LensCenterY="1" HorizontalFocalLength="1" VerticalFocalLength="1" k1="9" k2="9" k3="9" TangentialX="9" TangentialY="9"/>
        <IntrinsicStandardCameraModel LensCenterX="{f(intr['LensCenterX'])}" LensCenterY="{f(intr['LensCenterY'])}" HorizontalFocalLength="{f(intr['HorizontalFocalLength'])}" VerticalFocalLength="{f(intr['VerticalFocalLength'])}" k1="{f(k1)}" k2="{f(k2)}" k3="{f(k3)}" TangentialX="{f(tx)}" TangentialY="{f(ty)}"/>
        <Extrinsic X="{f(pos[0])}" Y="{f(pos[1])}" Z="{f(pos[2])}" {orient_attrs}/>
        <CameraSoftwareFilters FilterLevel="2"/>
        <Calibration PartitionID="1"/>{color}
      </Camera>
"""


def _write_mcal(path: Path, cameras_xml: list[str], encoding: str = "utf-16") -> Path:
    text = ('<?xml version="1.0" encoding="UTF-16LE"?>\n<calibrationProfile version="1">\n'
            '  <MotiveBuildInfo AppVersion="3.2.0"/>\n  <Calibration>\n'
            f'    <Cameras Count="{len(cameras_xml)}">\n' + "".join(cameras_xml) + "    </Cameras>\n  </Calibration>\n"
            "</calibrationProfile>\n")
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le") if encoding == "utf-16" else text.encode("utf-8")
    path.write_bytes(data)
    return path


def _motive_pose(cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre and Motive orientation matrix (columns: camera right, up, backward in the world)."""
    R = cam.R
    return cam.position, np.stack([R[0], -R[1], -R[2]], 1)


def _rig_mcal(path: Path, rig: CameraRig, coeffs=(0, 0, 0, 0, 0), ids=None, **kw) -> Path:
    xml = []
    for i, cam in enumerate(rig):
        K = cam.matrix
        intr = dict(LensCenterX=K[0, 2], LensCenterY=K[1, 2], HorizontalFocalLength=K[0, 0], VerticalFocalLength=K[1, 1])
        pos, M = _motive_pose(cam)
        xml.append(_camera_xml(cam.name, (ids or range(1, len(rig) + 1))[i], cam.size, intr, coeffs, pos, M))
    return _write_mcal(path, xml, **kw)


def _rig(n: int, seed: int, distortion: bool = False) -> CameraRig:
    """Synthetic truth (upright cameras: rotations close to a half turn, the hard case for Rodrigues)."""
    return make_rig(n, seed=seed, distortion=distortion)


def _points(n: int = 300, seed: int = 0) -> np.ndarray:
    lo, hi = walkway_volume().min(0), walkway_volume().max(0)
    return np.random.default_rng(seed).uniform(lo, hi, (n, 3))


def _doc_undistort(xy: np.ndarray, k) -> np.ndarray:
    """OptiTrack's documented sample: distorted -> undistorted normalized coordinates."""
    k1, k2, k3, tx, ty = k
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    kr = 1.0 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3
    return np.stack([x * kr + 2 * tx * x * y + ty * (r2 + x * x), y * kr + 2 * ty * x * y + tx * (r2 + y * y)], -1)


def _motive_truth_pixels(cam: Camera, pts: np.ndarray, k) -> np.ndarray:
    """Pixels of world points under Motive's inverse model: solve undistort(xd) = ideal by Newton."""
    pc = cam.world_to_camera(pts)
    ideal = pc[:, :2] / pc[:, 2:]
    xd = ideal.copy()
    for _ in range(50):
        f = _doc_undistort(xd, k) - ideal
        h = 1e-7
        jx = (_doc_undistort(xd + [h, 0], k) - _doc_undistort(xd - [h, 0], k)) / (2 * h)
        jy = (_doc_undistort(xd + [0, h], k) - _doc_undistort(xd - [0, h], k)) / (2 * h)
        det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
        xd = xd - np.stack([(jy[:, 1] * f[:, 0] - jy[:, 0] * f[:, 1]) / det,
                            (jx[:, 0] * f[:, 1] - jx[:, 1] * f[:, 0]) / det], -1)
    assert np.abs(_doc_undistort(xd, k) - ideal).max() < 1e-13
    return cam.normalized_to_pixels(xd)


# --- reading -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_mcal_projections_equal_truth(tmp_path: Path, encoding: str):
    truth = _rig(3, 4)
    src = _rig_mcal(tmp_path / "Calibration.mcal", truth, ids=[3, 1, 2], encoding=encoding)
    rig, info = ot.read_mcal(src)
    assert rig.names == ["cam02", "cam03", "cam01"]                       # Motive camera number order
    assert [info[n]["camera_id"] for n in rig.names] == [1, 2, 3]
    pts = _points()
    for cam in rig:
        t = truth[cam.name]
        assert cam.size == t.size
        assert np.allclose(cam.matrix, t.matrix, rtol=0, atol=1e-9)
        assert np.allclose(cam.position, t.position, rtol=0, atol=1e-9)
        uv, uv_true = cam.project(pts), t.project(pts)
        assert np.isfinite(uv_true).sum() > 100
        assert np.nanmax(np.abs(uv - uv_true)) < 1e-9


def test_documentation_sample_camera_is_plausible(tmp_path: Path):
    """The documentation's own camera: the origin is in front of it, inside its image, up is up."""
    src = _write_mcal(tmp_path / "doc.mcal", [_camera_xml("M21614", 1, (1280, 1024), DOC_INTRINSICS, DOC_DISTORTION,
                                                          DOC_POSITION, DOC_ORIENT)])
    cam = ot.read_mcal(src)[0]["M21614"]
    assert cam.size == (1280, 1024)
    assert np.allclose(cam.position, DOC_POSITION, atol=1e-12)
    assert cam.world_to_camera(np.zeros(3))[2] > 2.0                      # 2.2 m in front
    uv0, uv1 = cam.project(np.zeros(3)), cam.project(np.array([0.0, 1.0, 0.0]))
    assert cam.in_image(uv0) and cam.in_image(uv1)
    assert uv1[1] < uv0[1] - 300                                          # 1 m higher is higher in the image
    down = np.degrees(np.arcsin(-cam.R[2, 1]))                            # optical axis 38 deg below horizontal
    assert 30 < down < 45


def test_mcal_inverse_distortion_model(tmp_path: Path):
    """Motive's documented inverse model is converted to OpenCV's forward one within the fit error."""
    truth = _rig(2, 2)
    src = _rig_mcal(tmp_path / "c.mcal", truth, coeffs=DOC_DISTORTION)
    rig, info = ot.read_mcal(src)
    pts = _points(2000, 1)
    for cam in rig:
        t = truth[cam.name]
        uv_true = _motive_truth_pixels(t, pts, DOC_DISTORTION)
        inside = t.in_image(uv_true)
        assert inside.sum() > 200
        err = np.hypot(*(cam.project(pts)[inside] - uv_true[inside]).T)
        fit = info[cam.name]
        assert 0 < fit["distortion_fit_rms_px"] < 0.2 and fit["distortion_fit_max_px"] < 1.0
        assert err.max() <= 1.2 * fit["distortion_fit_max_px"]
        assert np.sqrt(np.mean(err ** 2)) < 0.2
        # reading the five numbers as forward coefficients is far off (sign of k1 flips)
        assert cam.distortions[0] < 0 < DOC_DISTORTION[0]
        raw = Camera(cam.name, cam.size, cam.matrix, [DOC_DISTORTION[i] for i in (0, 1, 3, 4, 2)], cam.rotation,
                     cam.translation)
        assert np.nanmax(np.hypot(*(raw.project(pts)[inside] - uv_true[inside]).T)) > 10
    # 'opencv' reads the numbers as they are
    rig2, _ = ot.read_mcal(src, distortion="opencv")
    assert np.allclose(rig2[0].distortions, [DOC_DISTORTION[i] for i in (0, 1, 3, 4, 2)], rtol=0, atol=0)


def test_color_cameras_selected_and_scaled(tmp_path: Path):
    truth = _rig(2, 5)
    pos, M = _motive_pose(truth[0])
    K = truth[0].matrix
    intr = dict(LensCenterX=K[0, 2], LensCenterY=K[1, 2], HorizontalFocalLength=K[0, 0], VerticalFocalLength=K[1, 1])
    xml = [_camera_xml("M100", 1, truth[0].size, intr, (0,) * 5, pos, M),
           _camera_xml("C200", 2, truth[0].size, intr, (0,) * 5, pos, M, color_res=1)]
    src = _write_mcal(tmp_path / "c.mcal", xml)
    rig, _ = ot.read_mcal(src)
    assert rig.names == ["C200"]                                          # colour cameras only when present
    w, h = truth[0].size
    s = 720 / h
    assert rig[0].size == (round(w * s), 720)
    assert np.allclose(rig[0].matrix[:2], K[:2] * s, rtol=0, atol=1e-9)
    assert ot.read_mcal(src, cameras="all")[0].names == ["M100", "C200"]
    assert ot.read_mcal(src, scale_color_resolution=False)[0][0].size == truth[0].size
    with pytest.raises(FileFormatError):
        ot.read_mcal(_write_mcal(tmp_path / "ir.mcal", xml[:1]), cameras="color")


def test_bad_mcal_files(tmp_path: Path):
    good = _camera_xml("M1", 1, (1280, 1024), DOC_INTRINSICS, DOC_DISTORTION, DOC_POSITION, DOC_ORIENT)
    with pytest.raises(FileFormatError, match="rotation matrix"):
        ot.read_mcal(_write_mcal(tmp_path / "a.mcal", [good.replace('OrientMatrix0="-0.68', 'OrientMatrix0="-0.28')]))
    with pytest.raises(FileFormatError, match="not a number"):
        ot.read_mcal(_write_mcal(tmp_path / "e.mcal", [good.replace('OrientMatrix0="', 'OrientMatrix0="x')]))
    with pytest.raises(FileFormatError, match="IntrinsicStandardCameraModel"):
        ot.read_mcal(_write_mcal(tmp_path / "b.mcal", [good.replace("<IntrinsicStandardCameraModel", "<Other")]))
    with pytest.raises(FileFormatError, match="Extrinsic"):
        ot.read_mcal(_write_mcal(tmp_path / "c.mcal", []))
    with pytest.raises(FileFormatError, match="XML"):
        ot.read_mcal(_write_mcal(tmp_path / "d.mcal", [good[:-20]]))
    with pytest.raises(Mocap3dError, match="distortion"):
        ot.read_mcal(tmp_path / "a.mcal", distortion="brown")


# --- writing and round trip -------------------------------------------------------------------------------
def test_write_mcal_round_trip(tmp_path: Path):
    truth = _rig(3, 7)
    out, fits = ot.write_mcal(truth, tmp_path / "out.mcal")
    assert out.read_bytes().startswith(codecs.BOM_UTF16_LE)
    assert all(f["distortion_fit_max_px"] == 0 for f in fits.values())
    rig, _ = ot.read_mcal(out)
    pts = _points()
    assert rig.names == truth.names
    for a, b in zip(rig, truth):
        assert a.size == b.size
        assert np.allclose(a.matrix, b.matrix, rtol=0, atol=1e-9)
        assert np.allclose(a.R, b.R, rtol=0, atol=1e-9)
        assert np.allclose(a.translation, b.translation, rtol=0, atol=1e-9)
        assert np.allclose(a.distortions, 0, atol=0)
        assert np.nanmax(np.abs(a.project(pts) - b.project(pts))) < 1e-9
    # with distortion: pose and matrix still exact, the distortion within the two fits' error
    truth = _rig(3, 7, distortion=True)
    out, fits = ot.write_mcal(truth, tmp_path / "dist.mcal")
    rig, info = ot.read_mcal(out)
    for a, b in zip(rig, truth):
        assert np.allclose(a.matrix, b.matrix, rtol=0, atol=1e-9)
        assert np.allclose(a.R, b.R, rtol=0, atol=1e-9) and np.allclose(a.translation, b.translation, rtol=0, atol=1e-9)
        uv_b = b.project(pts)
        inside = b.in_image(uv_b)
        err = np.hypot(*(a.project(pts)[inside] - uv_b[inside]).T)
        assert err.max() < 0.1, (b.name, err.max(), fits[b.name], info[b.name])


# --- Motive API values (Pose2Sim's manual path) ----------------------------------------------------------
def test_motive_api_toml(tmp_path: Path):
    truth = _rig(2, 9, distortion=True)
    lines = []
    for cam in truth:
        pos, M = _motive_pose(cam)
        lines += [f"[{cam.name}]", f"size = {list(cam.size)}", f"position = {[float(v) for v in pos]}",
                  f"orientation_matrix = {[float(v) for v in M.ravel()]}",
                  f"matrix = {[[float(v) for v in r] for r in cam.matrix]}",
                  f"distortions = {[float(v) for v in cam.distortions]}", ""]
    lines += ["[metadata]", "source = 'Motive API'"]
    src = tmp_path / "optitrack_cameras.toml"
    src.write_text("\n".join(lines))
    rig = ot.read_optitrack(tmp_path)                                     # folder: source found
    pts = _points()
    assert rig.names == truth.names
    for a, b in zip(rig, truth):
        assert np.nanmax(np.abs(a.project(pts) - b.project(pts))) < 1e-9
    src.write_text(src.read_text().replace("orientation_matrix = [", "orientation_matrix = [3.0, "))
    with pytest.raises(FileFormatError):
        ot.read_optitrack_toml(src)


# --- stage and command line --------------------------------------------------------------------------------
def test_stage_convert_and_cli(tmp_path: Path):
    from mocap3d.calibration import convert
    from mocap3d.calibration.converters import convert_to_toml
    import importlib.util
    truth = _rig(2, 10)
    _rig_mcal(tmp_path / "Motive.mcal", truth)
    rig, fmt, extra = convert(tmp_path, {"convert": {"convert_from": "optitrack", "optitrack": {"cameras": "all"}}})
    assert fmt == "optitrack" and extra["up_axis"] == "Y" and rig.names == truth.names
    assert set(extra["optitrack_cameras"]) == set(truth.names)            # per-camera info for the report
    pts = _points()
    assert all(np.nanmax(np.abs(a.project(pts) - b.project(pts))) < 1e-9 for a, b in zip(rig, truth))
    out = convert_to_toml("optitrack", [tmp_path / "Motive.mcal"], tmp_path / "Calib_a.toml")
    assert read_calibration(out).names == truth.names
    spec = importlib.util.spec_from_file_location(
        "convert_optitrack", Path(__file__).resolve().parents[1] / "calibration_tools" / "convert_optitrack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["-i", str(tmp_path / "Motive.mcal"), "-o", str(tmp_path / "Calib_b.toml")]) == 0
    back = read_calibration(tmp_path / "Calib_b.toml")
    assert all(np.nanmax(np.abs(a.project(pts) - b.project(pts))) < 1e-9 for a, b in zip(back, truth))
    assert mod.main(["--to-mcal", "-i", str(tmp_path / "Calib_b.toml"), "-o", str(tmp_path / "back.mcal")]) == 0
    assert ot.read_mcal(tmp_path / "back.mcal")[0].names == truth.names
    assert mod.main(["-i", str(tmp_path / "missing.mcal")]) == 1
    with pytest.raises(SystemExit):
        mod.main(["-h"])


def test_run_calibration_stage(tmp_path: Path):
    import json
    from mocap3d.calibration import run_calibration
    from mocap3d.project import Trial
    truth = _rig(2, 13)
    (tmp_path / "calibration").mkdir()
    _rig_mcal(tmp_path / "calibration" / "Motive.mcal", truth, coeffs=DOC_DISTORTION)
    cfg = {"calibration": {"calibration_type": "convert", "convert": {"convert_from": "optitrack"}}}
    report = run_calibration(Trial(tmp_path, tmp_path, cfg))
    rig = read_calibration(tmp_path / "calibration" / "Calib_optitrack.toml")
    assert rig.names == truth.names
    for a, b in zip(rig, truth):
        assert np.allclose(a.R, b.R, rtol=0, atol=1e-9) and np.allclose(a.translation, b.translation, rtol=0, atol=1e-9)
    saved = json.loads((tmp_path / "calibration" / "calibration_report.json").read_text())
    fits = saved["optitrack_cameras"]
    assert set(fits) == set(truth.names) and all(0 < f["distortion_fit_rms_px"] < 0.2 for f in fits.values())
    assert report["calibration_file"].endswith("Calib_optitrack.toml")
