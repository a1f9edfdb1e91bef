"""Calibration converters: samples written from each format's documentation, round trips to 1e-9."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from mocap3d.camera import Camera, CameraRig, rodrigues_to_matrix
from mocap3d.calibration import converters as cv
from mocap3d.errors import FileFormatError, Mocap3dError


def _rig() -> CameraRig:
    rng = np.random.default_rng(0)
    cams = []
    for i, size in enumerate([(1920, 1080), (1088, 1920), (1280, 720)]):
        w, h = size
        K = [[1400.0 + 10 * i, 0, w / 2 + 3.25], [0, 1401.5 + 10 * i, h / 2 - 2.5], [0, 0, 1]]
        cams.append(Camera(f"cam{i + 1:02d}", size, K, [-0.05 * (i + 1), 0.02, 0.001, -0.0005],
                           rng.normal(0, 1.0, 3), rng.normal(0, 2.0, 3)))
    return CameraRig(cams)


def _same(a: CameraRig, b: CameraRig, tol: float = 1e-9, dist: int = 4) -> None:
    assert a.names == b.names
    for x, y in zip(a, b):
        assert x.size == y.size
        assert np.allclose(x.matrix, y.matrix, rtol=0, atol=tol * 1e3)      # pixels: 1e-6 px abs
        assert np.allclose(x.distortions[:dist], y.distortions[:dist], rtol=0, atol=tol)
        assert np.allclose(x.R, y.R, rtol=0, atol=tol)
        assert np.allclose(x.translation, y.translation, rtol=0, atol=tol)


# --- Qualisys: sample written from the .qca.txt layout (camera orientation matrix, position in mm,
# sub-pixel intrinsics with 64 sub-pixels per pixel, fov_video window) -------------------------------
QCA = """<?xml version='1.0' encoding='ASCII'?>
<calibration created="2024-01-01" source="test" type="regular">
  <results min-max-diff="0." std-dev="0."/>
  <cameras>
    <camera active="1" avg-residual="0.4" model="Miqus Video" serial="cam02" viewrotation="0" video_resolution="540p">
      <fov_video bottom="1079" left="0" right="1919" top="0"/>
      <transform r11="1" r12="0" r13="0" r21="0" r22="0" r23="1" r31="0" r32="-1" r33="0" x="0" y="-3000" z="1000"/>
      <intrinsic centerPointU="61440" centerPointV="34560" focalLengthU="96000" focalLengthV="96000"
                 radialDistortion1="-3.2" radialDistortion2="1.28" radialDistortion3="0" skew="0"
                 tangentalDistortion1="0.064" tangentalDistortion2="-0.064"/>
    </camera>
    <camera active="1" avg-residual="0.3" model="Miqus M3" serial="marker1" viewrotation="0">
      <fov_video bottom="1023" left="0" right="1023" top="0"/>
      <transform r11="1" r12="0" r13="0" r21="0" r22="1" r23="0" r31="0" r32="0" r33="1" x="0" y="0" z="0"/>
      <intrinsic centerPointU="1" centerPointV="1" focalLengthU="1" focalLengthV="1" radialDistortion1="0"
                 radialDistortion2="0" tangentalDistortion1="0" tangentalDistortion2="0"/>
    </camera>
    <camera active="1" avg-residual="0.5" model="none" serial="cam01" viewrotation="90">
      <fov_video bottom="1079" left="0" right="1919" top="0"/>
      <transform r11="1" r12="0" r13="0" r21="0" r22="0" r23="1" r31="0" r32="-1" r33="0" x="500" y="-3000" z="1000"/>
      <intrinsic centerPointU="61440" centerPointV="34560" focalLengthU="96000" focalLengthV="96000"
                 radialDistortion1="0" radialDistortion2="0" tangentalDistortion1="0" tangentalDistortion2="0"/>
    </camera>
  </cameras>
</calibration>
"""


def test_qualisys_sample(tmp_path: Path):
    p = tmp_path / "Calib.qca.txt"
    p.write_text(QCA)
    rig, res = cv.read_qualisys(p, binning_factor=1, apply_view_rotation=False)
    assert rig.names == ["cam01", "cam02"]                  # video cameras only, natural order
    c2 = rig["cam02"]
    assert c2.size == (960, 540)                            # 540p: half of the 1080p fov
    assert np.allclose(c2.matrix, [[750, 0, 480], [0, 750, 270], [0, 0, 1]])
    assert np.allclose(c2.distortions, [-0.05, 0.02, 0.001, -0.001])
    # camera at (0, -3, 1) m looking along +Y (lab Z up): the world origin is in front of it, at its image centre
    assert np.allclose(c2.position, [0, -3, 1])
    assert np.allclose(c2.project(np.array([0.0, 0.0, 1.0])), [480, 270])
    assert c2.project(np.array([0.0, 0.0, 2.0]))[1] < 270  # a higher point is higher in the image
    assert res["cam02"] == pytest.approx(0.4)
    # binning factor 2 halves sizes and focal lengths
    rig2, _ = cv.read_qualisys(p, binning_factor=2, apply_view_rotation=False)
    assert rig2["cam01"].size == (960, 540) and rig2["cam01"].matrix[0, 0] == pytest.approx(750)
    # view rotation 90: portrait image, same 3D ray to pixel relation turned clockwise
    rot, _ = cv.read_qualisys(p, apply_view_rotation=True)
    c1, c1r = rig["cam01"], rot["cam01"]
    assert c1r.size == (1080, 1920)
    X = np.array([[0.3, 0.2, 1.4], [-0.5, 1.0, 0.7]])
    u, v = c1.project(X).T
    assert np.allclose(c1r.project(X), np.stack([1079 - v, u], -1))


def test_qualisys_round_trip(tmp_path: Path):
    rig = _rig()
    for b in (1, 2):
        p = cv.write_qualisys(rig, tmp_path / f"out{b}.qca.txt", binning_factor=b)
        back, _ = cv.read_qualisys(p, binning_factor=b)
        _same(rig, back)


def test_rotate_image_plane_round_trip():
    cam = _rig()[0]
    X = np.random.default_rng(1).normal(0, 1, (20, 3)) + cam.position + 3 * cam.R[2]
    u, v = cam.project(X).T
    r1 = cv.rotate_image_plane(cam, 1)
    assert np.allclose(r1.project(X), np.stack([cam.size[1] - 1 - v, u], -1), atol=1e-9)
    _same(CameraRig([cam]), CameraRig([cv.rotate_image_plane(cam, 4)]))


# --- Vicon: sample written from the .xcp layout ---------------------------------------------------
XCP = """<?xml version="1.0" encoding="UTF-8"?>
<Calibration>
  <Camera DEVICEID="2106" PIXEL_ASPECT_RATIO="1" SENSOR_SIZE="1920 1080" SYSTEM="DV" USERID="1">
    <KeyFrames>
      <KeyFrame FOCAL_LENGTH="1500" ORIENTATION="{q}" POSITION="0 -3000 1000" PRINCIPAL_POINT="965 535"
                VICON_RADIAL2="ThreeParameter 965 535 -0.1 0.05 0" WORLD_ERROR="0.21"/>
    </KeyFrames>
  </Camera>
  <Camera DEVICEID="2001" SYSTEM="MX" PIXEL_ASPECT_RATIO="1" SENSOR_SIZE="1024 1024">
    <KeyFrames><KeyFrame FOCAL_LENGTH="1" ORIENTATION="0 0 0 1" POSITION="0 0 0" PRINCIPAL_POINT="0 0"/></KeyFrames>
  </Camera>
</Calibration>
"""


def test_vicon_sample(tmp_path: Path):
    # camera -> world rotation: camera x = world X, camera y = world -Z, camera z = world Y
    Rcw = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    import cv2
    q_rod = cv2.Rodrigues(Rcw)[0].ravel()
    ang = np.linalg.norm(q_rod)
    axis = q_rod / ang
    q = np.concatenate([axis * np.sin(ang / 2), [np.cos(ang / 2)]])
    p = tmp_path / "calib.xcp"
    p.write_text(XCP.format(q=" ".join(repr(float(v)) for v in q)))
    rig, err = cv.read_vicon(p)
    assert rig.names == ["2106"]
    c = rig[0]
    assert np.allclose(c.position, [0, -3, 1])
    assert np.allclose(c.matrix, [[1500, 0, 965], [0, 1500, 535], [0, 0, 1]])
    assert np.allclose(c.distortions, [-0.1, 0.05, 0, 0])
    assert np.allclose(c.project(np.array([0.0, 0.0, 1.0])), [965, 535])
    assert err["2106"] == pytest.approx(0.21)
    # a region of interest smaller than the sensor shifts the principal point
    rig2, _ = cv.read_vicon(p, image_sizes={"2106": (1280, 720)})
    assert np.allclose(rig2[0].matrix[:2, 2], [965 - 320, 535 - 180])


# --- OpenCap ---------------------------------------------------------------------------------------
def test_opencap_sample_and_round_trip(tmp_path: Path):
    # OpenCap world: the vertical board's (OpenCV board axes: x right, y down, z into the board)
    R = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])          # camera facing the board
    pos = np.array([0.2, -1.0, -3.0])                               # 1 m above the origin, 3 m in front
    data = {"imageSize": np.array([[1080.0], [1920.0]]), "intrinsicMat": np.array([[1500.0, 0, 960], [0, 1500, 540], [0, 0, 1]]),
            "distortion": np.array([[-0.1, 0.05, 0.001, 0.002, 0.01]]), "rotation": R,
            "translation": (-R @ pos * 1000)[:, None]}
    p = tmp_path / "cam0.pickle"
    p.write_bytes(pickle.dumps(data))
    rig = cv.read_opencap([p])
    c = rig[0]
    assert c.size == (1920, 1080)
    assert np.allclose(c.distortions, [-0.1, 0.05, 0.001, 0.002, 0.01])    # k3 kept
    # Z-up world: OpenCap (x, y, z) -> (-x, -z, -y) under Rz(pi) Rx(-pi/2): the camera 1 m above the floor
    # (y = -1, y pointing down) gets Z = +1
    assert np.allclose(c.position, [-0.2, 3.0, 1.0])
    X = np.array([[0.1, -0.5, 0.2], [0.3, 0.1, -0.4]])               # OpenCap world points
    orig = Camera("o", (1920, 1080), data["intrinsicMat"], data["distortion"].ravel(), np.zeros(3), -R @ pos)
    assert np.allclose(c.project(X @ cv.OPENCAP_TO_ZUP.T), orig.project(X))
    out = cv.write_opencap(rig, tmp_path / "out")
    _same(rig, cv.read_opencap(out), dist=5)
    # a pickle that would build other objects is refused
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(pickle.dumps({"x": Path("/")}))
    with pytest.raises(FileFormatError):
        cv.read_opencap([bad])


# --- EasyMocap -------------------------------------------------------------------------------------
INTRI = """%YAML:1.0
---
names:
   - "1"
K_1: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 1500., 0., 960., 0., 1500., 540., 0., 0., 1. ]
dist_1: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.1, 0.05, 0.001, 0.002, 0.01 ]
"""
EXTRI = """%YAML:1.0
---
names:
   - "1"
R_1: !!opencv-matrix
   rows: 3
   cols: 1
   dt: d
   data: [ 0.1, -0.2, 0.3 ]
T_1: !!opencv-matrix
   rows: 3
   cols: 1
   dt: d
   data: [ 0.5, 1.0, 4.0 ]
"""


def test_easymocap_sample_and_round_trip(tmp_path: Path):
    (tmp_path / "intri.yml").write_text(INTRI)
    (tmp_path / "extri.yml").write_text(EXTRI)
    rig = cv.read_easymocap(tmp_path / "intri.yml", tmp_path / "extri.yml")
    c = rig[0]
    assert c.name == "1" and c.size == (1920, 1080)          # from twice the principal point
    assert np.allclose(c.rotation, [0.1, -0.2, 0.3]) and np.allclose(c.translation, [0.5, 1, 4])
    assert np.allclose(c.distortions, [-0.1, 0.05, 0.001, 0.002, 0.01])
    r = _rig()
    i, e = cv.write_easymocap(r, tmp_path / "out")
    _same(r, cv.read_easymocap(i, e))


# --- bioCV -----------------------------------------------------------------------------------------
def test_biocv_sample(tmp_path: Path):
    R = rodrigues_to_matrix(np.array([0.2, -0.1, 0.05]))
    t = np.array([100.0, -200.0, 3500.0])
    text = "\n".join(["1920", "1080", "1500 0 960", "0 1500 540", "0 0 1", "",
                      *[" ".join(repr(float(v)) for v in np.append(R[i], t[i])) for i in range(3)], "",
                      "-0.1 0.05 0.001 0.002 0", ""])
    p = tmp_path / "c0.calib"
    p.write_text(text)
    c = cv.read_biocv([p])[0]
    assert c.size == (1920, 1080)
    assert np.allclose(c.R, R) and np.allclose(c.translation, t / 1000)
    assert np.allclose(c.distortions, [-0.1, 0.05, 0.001, 0.002, 0])
    p.write_text("1920\n1080\n1 2\n")
    with pytest.raises(FileFormatError):
        cv.read_biocv([p])


def test_toml_variants_and_optitrack(tmp_path: Path):
    pytest.importorskip("mocap3d.io.calibration_toml")
    text = """[cam_0]
name = "A"
size = [1920, 1080]
matrix = [[1500.0, 0.0, 960.0], [0.0, 1500.0, 540.0], [0.0, 0.0, 1.0]]
distortions = [-0.1, 0.05, 0.0, 0.0, 0.0]
rotation = [0.1, 0.2, 0.3]
translation = [100.0, 200.0, 3000.0]

[metadata]
adjusted = false
error = 0.3
"""
    p = tmp_path / "camera_calibration.toml"
    p.write_text(text)
    assert np.allclose(cv.read_toml_variant(p, "freemocap")[0].translation, [0.1, 0.2, 3.0])
    assert np.allclose(cv.read_toml_variant(p, "anipose")[0].translation, [0.1, 0.2, 3.0])  # > 100 units: mm
    with pytest.raises(Mocap3dError, match="mcal"):      # OptiTrack: tests/test_calibration_optitrack.py
        cv.read_optitrack(tmp_path)                       # no .mcal nor *optitrack*.toml here


def test_malformed_files(tmp_path: Path):
    p = tmp_path / "x.qca.txt"
    p.write_text("<calibration><cameras><camera model='video' serial='a'>")
    with pytest.raises(FileFormatError, match="x.qca.txt"):
        cv.read_qualisys(p)
    p.write_text(QCA.replace('focalLengthU="96000"', 'focalLengthU="abc"', 1))
    with pytest.raises(FileFormatError, match="not a number"):
        cv.read_qualisys(p)


def test_calibration_tools_round_trip(tmp_path: Path):
    """The calibration_tools scripts: TOML -> format -> TOML gives the same cameras (1e-9)."""
    pytest.importorskip("mocap3d.io.calibration_toml")
    import importlib.util
    from mocap3d.io.calibration_toml import read_calibration, write_calibration

    def script(name):
        path = Path(__file__).resolve().parents[1] / "calibration_tools" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.main

    rig = _rig()
    src = write_calibration(rig, tmp_path / "Calib.toml")
    assert script("calib_toml_to_qca")(["-i", str(src), "-o", str(tmp_path / "c.qca.txt")]) == 0
    assert script("calib_qca_to_toml")(["-i", str(tmp_path / "c.qca.txt"), "-o", str(tmp_path / "q.toml")]) == 0
    _same(rig, read_calibration(tmp_path / "q.toml"))
    assert script("calib_toml_to_opencap")(["-i", str(src), "-o", str(tmp_path / "oc")]) == 0
    pickles = [str(tmp_path / "oc" / f"{n}.pickle") for n in rig.names]
    assert script("calib_opencap_to_toml")(["-i", *pickles, "-o", str(tmp_path / "o.toml")]) == 0
    back = read_calibration(tmp_path / "o.toml")
    _same(CameraRig([c.copy(name=n) for c, n in zip(back, rig.names)]), rig)   # OpenCap files carry no names
    assert script("calib_toml_to_easymocap")(["-i", str(src), "-o", str(tmp_path / "em")]) == 0
    assert script("calib_easymocap_to_toml")(["-i", str(tmp_path / "em" / "intri.yml"),
                                              str(tmp_path / "em" / "extri.yml"), "-o", str(tmp_path / "e.toml")]) == 0
    _same(rig, read_calibration(tmp_path / "e.toml"))
    assert script("calib_vicon_to_toml")(["-i", str(tmp_path / "missing.xcp")]) == 1   # one-line error, exit 1


def test_run_calibration_convert_and_existing(tmp_path: Path):
    pytest.importorskip("mocap3d.io.calibration_toml")
    import json
    from mocap3d.calibration import run_calibration
    from mocap3d.io.calibration_toml import read_calibration, read_calibration_metadata
    from mocap3d.project import Trial
    calib = tmp_path / "calibration"
    calib.mkdir()
    (calib / "Calib.qca.txt").write_text(QCA)
    cfg = {"calibration": {"calibration_type": "convert",
                           "convert": {"convert_from": "qualisys", "qualisys": {"binning_factor": 1}}}}
    report = run_calibration(Trial(tmp_path, tmp_path, cfg))
    rig = read_calibration(calib / "Calib_qualisys.toml")
    ref, _ = cv.read_qualisys(calib / "Calib.qca.txt")
    _same(ref, rig)
    assert read_calibration_metadata(calib / "Calib_qualisys.toml")["up_axis"] == "Z"
    saved = json.loads((calib / "calibration_report.json").read_text())
    assert saved["calibration_file"].endswith("Calib_qualisys.toml")
    assert [c["name"] for c in saved["cameras"]] == ["cam01", "cam02"]
    assert report["residuals_mm"]["cam02"] == pytest.approx(0.4)
    # nothing to convert any more: the existing Calib*.toml is used as is, untouched
    (calib / "Calib.qca.txt").unlink()
    before = (calib / "Calib_qualisys.toml").read_text()
    report = run_calibration(Trial(tmp_path, tmp_path, cfg))
    assert report["calibration_file"].endswith("Calib_qualisys.toml")
    assert (calib / "Calib_qualisys.toml").read_text() == before
    # bad config value: one-line ConfigError
    from mocap3d.errors import ConfigError
    cfg["calibration"]["convert"]["convert_from"] = "nope"
    with pytest.raises(ConfigError, match="convert_from"):
        run_calibration(Trial(tmp_path, tmp_path, cfg))


def test_run_calibration_vicon_sizes_from_videos(tmp_path: Path):
    """Vicon: image size (region of interest) read from the trial video named after the DEVICEID."""
    pytest.importorskip("mocap3d.io.calibration_toml")
    import cv2
    from mocap3d.calibration import run_calibration
    from mocap3d.io.calibration_toml import read_calibration
    from mocap3d.project import Trial
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "calib.xcp").write_text(XCP.format(q="0 0 0 1"))
    (tmp_path / "videos").mkdir()
    w = cv2.VideoWriter(str(tmp_path / "videos" / "trial1.2106.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1280, 720))
    for _ in range(3):
        w.write(np.zeros((720, 1280, 3), np.uint8))
    w.release()
    run_calibration(Trial(tmp_path, tmp_path, {"calibration": {"calibration_type": "convert",
                                                               "convert": {"convert_from": "vicon"}}}))
    c = read_calibration(tmp_path / "calibration" / "Calib_vicon.toml")[0]
    assert c.size == (1280, 720) and np.allclose(c.matrix[:2, 2], [965 - 320, 535 - 180])
