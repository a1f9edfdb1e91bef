"""Calibration TOML: round trip, Pose2Sim/AniPose/Caliscope/FreeMoCap layouts, bad input."""
import numpy as np
import pytest
import toml

from mocap3d.camera import Camera, CameraRig, rodrigues_to_matrix
from mocap3d.errors import FileFormatError
from mocap3d.io.calibration_toml import read_calibration, read_calibration_metadata, write_calibration


def _rig(names=("cam01", "cam02", "cam03"), fisheye_last=True):
    rng = np.random.default_rng(3)
    cams = []
    for i, n in enumerate(names):
        f = 1000 + 100 * rng.random()
        K = np.array([[f, 0, 960 + rng.normal()], [0, f * 1.001, 540 + rng.normal()], [0, 0, 1]])
        fish = fisheye_last and i == len(names) - 1
        dist = rng.normal(scale=0.05, size=4) if fish else rng.normal(scale=0.05, size=5)
        cams.append(Camera(n, (1920, 1080), K, dist, rng.normal(size=3), rng.normal(scale=2, size=3), fish))
    return CameraRig(cams)


def _assert_same(a: CameraRig, b: CameraRig, atol=0.0):
    assert a.names == b.names
    for ca, cb in zip(a, b):
        assert ca.size == cb.size and ca.fisheye == cb.fisheye
        for k in ("matrix", "distortions", "rotation", "translation"):
            np.testing.assert_allclose(getattr(ca, k), getattr(cb, k), rtol=0, atol=atol, err_msg=k)


def test_round_trip_is_exact_and_keeps_metadata(tmp_path):
    rig = _rig()
    p = write_calibration(rig, tmp_path / "Calib.toml", metadata={"error": 0.42, "origin": "test"})
    _assert_same(read_calibration(p), rig)
    meta = read_calibration_metadata(p)
    assert meta == {"adjusted": False, "error": 0.42, "origin": "test"}
    doc = toml.load(p)  # another TOML parser reads it too
    assert list(doc) == ["cam01", "cam02", "cam03", "metadata"]
    assert doc["cam03"]["fisheye"] is True and doc["cam01"]["size"] == [1920, 1080]


def test_camera_order_is_file_order(tmp_path):
    rig = _rig(("cam10", "cam2", "cam1", "front"), fisheye_last=False)
    p = write_calibration(rig, tmp_path / "c.toml")
    assert read_calibration(p).names == ["cam10", "cam2", "cam1", "front"]


def test_reads_pose2sim_written_layout(tmp_path):
    # Exactly the text layout Pose2Sim's calibration writes (floats for size, 4 distortions).
    text = """[int_cam01_img]
name = "int_cam01_img"
size = [ 1088.0, 1920.0]
matrix = [ [ 1677.6, 0.0, 547.1], [ 0.0, 1678.2, 955.6], [ 0.0, 0.0, 1.0]]
distortions = [ -0.041, 0.186, 0.0012, -0.0005]
rotation = [ 1.5, -0.9, 0.7]
translation = [ 0.5, 0.9, 4.2]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""
    p = tmp_path / "Calib_scene.toml"
    p.write_text(text)
    rig = read_calibration(p)
    c = rig["int_cam01_img"]
    assert c.size == (1088, 1920) and not c.fisheye
    np.testing.assert_allclose(c.matrix[0], [1677.6, 0, 547.1])
    np.testing.assert_allclose(c.translation, [0.5, 0.9, 4.2])


def test_anipose_dump_reads_and_projects_like_aniposelib(tmp_path):
    from aniposelib.cameras import CameraGroup
    rig = _rig(fisheye_last=False)
    # Aim cameras at the origin region so points project in front of them.
    cams = [c.copy(translation=np.array([0.1 * i, -0.2, 5.0])) for i, c in enumerate(rig)]
    rig = CameraRig(cams)
    p = write_calibration(rig, tmp_path / "ours.toml")
    group = CameraGroup.load(str(p))  # aniposelib reads our file
    X = np.random.default_rng(0).normal(scale=0.3, size=(20, 3))
    ani = group.project(X)  # (C, N, 2)
    ours = rig.project(X)
    order = sorted(rig.names)  # aniposelib sorts table names
    for i, name in enumerate(order):
        np.testing.assert_allclose(ani[i], ours[rig.names.index(name)], atol=1e-6)
    # And we read what aniposelib dumps (tables cam_0, cam_1... with name keys)
    group.dump(str(tmp_path / "anipose.toml"))
    back = read_calibration(tmp_path / "anipose.toml")
    assert back.names == order
    _assert_same(back, rig.subset(order), atol=1e-12)


def test_anipose_fisheye_flag(tmp_path):
    from aniposelib.cameras import CameraGroup, FisheyeCamera
    cam = FisheyeCamera(matrix=np.diag([800.0, 800.0, 1.0]) + np.array([[0, 0, 640], [0, 0, 360], [0, 0, 0]]),
                        dist=[0.01, -0.002, 0.0003, 0.0], size=(1280, 720), rvec=[0.1, 0.2, 0.3], tvec=[0.1, 0.2, 3],
                        name="gopro")
    CameraGroup([cam]).dump(str(tmp_path / "fish.toml"))
    c = read_calibration(tmp_path / "fish.toml")["gopro"]
    assert c.fisheye and c.size == (1280, 720)
    np.testing.assert_allclose(c.distortions, [0.01, -0.002, 0.0003, 0.0])


CALISCOPE_CONFIG = """CreationDate = 2023-05-06T11:12:27.631355
fps_recording = 24

[cam_0]
port = 0
size = [ 1280, 720,]
rotation_count = 0
error = 0.19
matrix = [ [ 894.5, 0.0, 624.0,], [ 0.0, 896.8, 361.2,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.338, 0.0967, -0.00135, 0.00316, -0.00375,]
translation = [ -0.64, 0.26, 1.45,]
rotation = [ [ 0.028454458274723926, -0.8200005191342249, 0.571655046705523,], [ -0.9915778577174362, -0.0954406312087065, -0.0875467760627629,], [ 0.12634752031121108, -0.5643493904790591, -0.8158100695487417,],]
exposure = -7.0
grid_count = 24
ignore = false
verified_resolutions = [ [ 640, 480,], [ 1280, 720,],]

[cam_1]
port = 1
size = [ 1280, 720,]
error = 0.469
matrix = [ [ 703.9, 0.0, 626.0,], [ 0.0, 706.2, 348.8,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.192, -0.256, 0.0028, -0.0052, 0.115,]
translation = [ 0.0004, -0.0019, 0.0025,]
rotation = [ [ 1.0, 0.0, 0.0,], [ 0.0, 1.0, 0.0,], [ 0.0, 0.0, 1.0,],]
exposure = -6.0
grid_count = 34

[cam_2]
port = 2
size = [ 1280, 720,]
matrix = [ [ 640.0, 0.0, 657.0,], [ 0.0, 643.0, 333.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.19, -0.28, -0.0024, 0.0028, 0.147,]

[capture_volume]
stage = 2

[charuco]
columns = 4
rows = 5
units = "inch"
square_size_overide_cm = 5.4

[point_estimates]
obj = [ [ 0.1, 0.2, 0.3,],]
"""


def test_caliscope_config_rotation_matrix_and_extra_tables(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(CALISCOPE_CONFIG)
    rig = read_calibration(p)
    assert rig.names == ["cam_0", "cam_1"]  # cam_2 has no extrinsics: skipped
    R0 = np.array(toml.loads(CALISCOPE_CONFIG)["cam_0"]["rotation"])
    np.testing.assert_allclose(rodrigues_to_matrix(rig["cam_0"].rotation), R0, atol=1e-12)
    np.testing.assert_allclose(rig["cam_1"].rotation, 0.0, atol=1e-12)
    np.testing.assert_allclose(rig["cam_0"].translation, [-0.64, 0.26, 1.45])  # metres, unchanged
    assert len(rig["cam_0"].distortions) == 5


def test_caliscope_camera_array_nested_tables(tmp_path):
    doc = toml.loads(CALISCOPE_CONFIG)
    text = ""
    for i in (1, 0):  # written out of order: sorted by camera id
        cam = dict(doc[f"cam_{i}"], cam_id=i)
        text += f"[cameras.{i}]\n" + toml.dumps(cam) + "\n"
    p = tmp_path / "camera_array.toml"
    p.write_text(text)
    rig = read_calibration(p)
    assert rig.names == ["cam_0", "cam_1"]
    np.testing.assert_allclose(rodrigues_to_matrix(rig["cam_0"].rotation), doc["cam_0"]["rotation"], atol=1e-12)


def test_freemocap_millimetres_detected_from_metadata(tmp_path):
    rig = _rig(fisheye_last=False)
    doc = {f"cam_{i}": {"name": c.name, "size": list(c.size), "matrix": c.matrix.tolist(),
                        "distortions": c.distortions.tolist(), "rotation": c.rotation.tolist(),
                        "translation": (c.translation * 1000).tolist()} for i, c in enumerate(rig)}
    doc["metadata"] = {"charuco_square_size": 39, "charuco_board_object": "CharucoBoardDefinition(7x5)",
                       "path_to_recorded_videos": "x", "date_time_calibrated": "2024-01-01T00:00:00"}
    p = tmp_path / "freemocap_camera_calibration.toml"
    p.write_text(toml.dumps(doc))
    _assert_same(read_calibration(p), rig, atol=1e-12)
    # forcing the unit overrides the rule
    np.testing.assert_allclose(read_calibration(p, translation_units="m")[0].translation, rig[0].translation * 1000)


def test_millimetres_detected_from_magnitude(tmp_path):
    rig = CameraRig([c.copy(translation=np.array([1500.0, -300.0, 4200.0]) * (i + 1)) for i, c in enumerate(_rig())])
    p = write_calibration(rig, tmp_path / "mm.toml")
    back = read_calibration(p)
    np.testing.assert_allclose(back[1].translation, [3.0, -0.6, 8.4])
    # a normal metre calibration is left alone
    np.testing.assert_allclose(read_calibration(write_calibration(_rig(), tmp_path / "m.toml"))[0].translation,
                               _rig()[0].translation)


def test_truncated_toml_names_file_and_line(tmp_path):
    p = write_calibration(_rig(), tmp_path / "Calib.toml")
    text = p.read_text()
    cut = tmp_path / "cut.toml"
    cut.write_text(text[: text.index("translation", 200) + 20])  # cut inside an array
    with pytest.raises(FileFormatError, match=r"cut\.toml.*line \d+"):
        read_calibration(cut)


def test_missing_key_and_bad_shape_and_no_camera(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text('[cam1]\nname = "cam1"\nmatrix = [[1.0,0,0],[0,1,0],[0,0,1]]\ndistortions = [0.0, 0, 0, 0]\n'
                 'rotation = [0.0, 0, 0]\ntranslation = [0.0, 0, 1]\n')
    with pytest.raises(FileFormatError, match=r"a\.toml.*\[cam1\].*'size'"):
        read_calibration(p)
    p.write_text('[cam1]\nname = "cam1"\nsize = [10, 10]\nmatrix = [[1.0,0],[0,1]]\ndistortions = [0.0]\n'
                 'rotation = [0.0, 0, 0]\ntranslation = [0.0, 0, 1]\n')
    with pytest.raises(FileFormatError, match=r"\[cam1\] matrix has shape \(2, 2\)"):
        read_calibration(p)
    p.write_text("[metadata]\nadjusted = false\n[charuco]\nrows = 5\n")
    with pytest.raises(FileFormatError, match="no camera table"):
        read_calibration(p)
    with pytest.raises(FileFormatError, match="not found"):
        read_calibration(tmp_path / "missing.toml")


def test_failed_write_keeps_previous_file(tmp_path):
    p = write_calibration(_rig(), tmp_path / "Calib.toml")
    before = p.read_text()
    with pytest.raises(TypeError):
        write_calibration(_rig(), p, metadata={"bad": {"nested": 1}})
    assert p.read_text() == before and len(list(tmp_path.iterdir())) == 1
