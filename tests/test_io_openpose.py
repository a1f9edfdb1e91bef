"""OpenPose JSON folders: round trip, frame numbers, padding, zero confidence, bad input."""
import json

import numpy as np
import pytest

from mocap3d.errors import FileFormatError, Mocap3dError
from mocap3d.io.openpose import (frame_number, openpose_document, read_openpose_camera, read_openpose_folders,
                                 write_openpose_folders)
from mocap3d.keypoints import Keypoints2D
from mocap3d.skeletons import get_skeleton


def _kp(C=2, F=4, P=2, K=26, seed=0):
    rng = np.random.default_rng(seed)
    data = np.empty((C, F, P, K, 3))
    data[..., :2] = rng.uniform(0, 1920, size=(C, F, P, K, 2))
    data[..., 2] = rng.uniform(0.05, 1, size=(C, F, P, K))
    if F > 1 and K > 3:
        data[0, 1, 0, 3] = np.nan  # one missing keypoint
    if C > 1 and F > 2:
        data[1, 2, 0] = np.nan  # an inner missing person (kept as zeros)
    names = list(get_skeleton("HALPE_26").names)[:K] if K == 26 else [str(i) for i in range(K)]
    return Keypoints2D(data, [f"cam{i + 1:02d}" for i in range(C)], names, np.arange(10, 10 + F), 50.0)


def test_round_trip_exact(tmp_path):
    kp = _kp()
    dirs = write_openpose_folders(kp, tmp_path / "pose")
    assert [d.name for d in dirs] == ["cam01_json", "cam02_json"]
    back = read_openpose_folders(tmp_path / "pose", skeleton=get_skeleton("HALPE_26"), rate=50.0)
    assert back.cameras == kp.cameras and back.keypoints == kp.keypoints and back.rate == 50.0
    np.testing.assert_array_equal(back.frames, kp.frames)
    np.testing.assert_array_equal(back.data, kp.data)  # exact, NaN in the same places


def test_3d_keypoints_round_trip_exact_and_are_absent_from_2d_only_files(tmp_path):
    """pose_keypoints_3d [x, y, z, c, ...] (BlazePose's world landmarks) survive a write/read exactly."""
    kp = _kp()
    rng = np.random.default_rng(1)
    d3 = np.concatenate([rng.normal(0, 0.4, kp.data.shape[:4] + (3,)), rng.uniform(0.05, 1, kp.data.shape[:4] + (1,))], -1)
    d3[~np.isfinite(kp.data).all(-1)] = np.nan       # no 3D where the 2D is missing (the inner missing person too)
    d3[0, 2, 1, 5] = np.nan                          # one 3D keypoint missing alone
    d3[1, 3, 1] = np.nan                             # a person with 2D and no 3D at all: written as []
    kp3 = Keypoints2D(kp.data, kp.cameras, kp.keypoints, kp.frames, kp.rate, data3d=d3)
    write_openpose_folders(kp3, tmp_path / "pose")
    doc = json.loads((tmp_path / "pose" / "cam02_json" / "cam02_000013.json").read_text())
    assert len(doc["people"][0]["pose_keypoints_3d"]) == 26 * 4 and doc["people"][1]["pose_keypoints_3d"] == []
    back = read_openpose_folders(tmp_path / "pose", skeleton=get_skeleton("HALPE_26"), rate=50.0)
    np.testing.assert_array_equal(back.data, kp.data)
    np.testing.assert_array_equal(back.data3d, d3)   # exact, NaN in the same places
    one = read_openpose_camera(tmp_path / "pose" / "cam01_json", get_skeleton("HALPE_26"))
    np.testing.assert_array_equal(one.data3d[0], d3[0])
    np.testing.assert_array_equal(back.select_cameras(["cam02"]).data3d[0], d3[1])
    write_openpose_folders(kp, tmp_path / "pose2d")
    assert read_openpose_folders(tmp_path / "pose2d").data3d is None
    # A file edited by hand (indented JSON) is read through the json module, with the same values.
    f = tmp_path / "pose" / "cam01_json" / "cam01_000012.json"
    f.write_text(json.dumps(json.loads(f.read_text()), indent=2))
    np.testing.assert_array_equal(read_openpose_folders(tmp_path / "pose").data3d, d3)
    f.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 26,
                                         "pose_keypoints_3d": [1.0, 2.0, 0.5] * 26}]}))
    with pytest.raises(FileFormatError, match=r"cam01_000012\.json.*pose_keypoints_3d holds 78 values, not a multiple of 4"):
        read_openpose_folders(tmp_path / "pose", skeleton=get_skeleton("HALPE_26"))


def test_written_document_is_openpose(tmp_path):
    kp = _kp(C=1, F=1, P=1, K=2)
    write_openpose_folders(kp, tmp_path)
    files = list((tmp_path / "cam01_json").glob("*.json"))
    assert [f.name for f in files] == ["cam01_000010.json"]
    doc = json.loads(files[0].read_text())
    assert doc["version"] == 1.3
    person = doc["people"][0]
    assert person["person_id"] == [-1] and len(person["pose_keypoints_2d"]) == 6
    for k in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d", "pose_keypoints_3d"):
        assert person[k] == []
    np.testing.assert_array_equal(person["pose_keypoints_2d"], kp.data[0, 0, 0].ravel())


def test_trailing_empty_persons_dropped_inner_kept():
    persons = np.full((3, 2, 3), np.nan)
    persons[1] = [[1, 2, 0.5], [3, 4, 0.6]]
    doc = openpose_document(persons)
    assert len(doc["people"]) == 2
    assert doc["people"][0]["pose_keypoints_2d"] == [0.0] * 6
    assert openpose_document(np.full((2, 2, 3), np.nan))["people"] == []


def test_frame_from_last_number_and_zero_confidence(tmp_path):
    d = tmp_path / "pose" / "cam1_json"
    d.mkdir(parents=True)
    # OpenPose's own naming: <video>_<12 digits>_keypoints.json; the camera number must not be used.
    people = {"people": [{"person_id": [-1], "pose_keypoints_2d": [10.0, 20.0, 0.9, 0.0, 0.0, 0.0]},
                         {"person_id": [-1], "pose_keypoints_2d": [5.0, 6.0, 0.8, 7.0, 8.0, 0.7]}]}
    (d / "vid3_000000000007_keypoints.json").write_text(json.dumps(people, indent=2))  # pretty-printed
    (d / "vid3_000000000002_keypoints.json").write_text(json.dumps({"people": []}))
    (d / "vid3_000000000009_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": []}]}))
    kp = read_openpose_camera(d)
    np.testing.assert_array_equal(kp.frames, [2, 7, 9])
    assert kp.data.shape == (1, 3, 2, 2, 3) and kp.cameras == ["cam1"]
    assert np.isnan(kp.data[0, 2]).all()  # a person with an empty pose list is missing
    assert np.isnan(kp.data[0, 0]).all()  # empty frame
    np.testing.assert_array_equal(kp.data[0, 1, 0, 0], [10, 20, 0.9])
    assert np.isnan(kp.data[0, 1, 0, 1]).all()  # 0, 0, 0 -> NaN
    assert frame_number("cam01_run2_000123.json") == 123


def test_mismatched_frame_counts_padded(tmp_path):
    kp = _kp(C=2, F=5)
    write_openpose_folders(kp, tmp_path)
    for f in (10, 11):  # camera 2 misses its first two frames
        (tmp_path / "cam02_json" / f"cam02_{f:06d}.json").unlink()
    back = read_openpose_folders(tmp_path)
    np.testing.assert_array_equal(back.frames, np.arange(10, 15))
    assert np.isnan(back.data[1, :2]).all()
    np.testing.assert_array_equal(back.data[1, 2:], kp.data[1, 2:])
    assert back.keypoints == [str(i) for i in range(26)]


def test_camera_selection_and_mismatch(tmp_path):
    kp = _kp(C=2, F=2)
    write_openpose_folders(kp, tmp_path)
    back = read_openpose_folders(tmp_path, cameras=["cam02", "cam01"])  # by name, in calibration order
    np.testing.assert_array_equal(back.data[0], kp.data[1])
    renamed = read_openpose_folders(tmp_path, cameras=["A", "B"])  # by sorted order, as Pose2Sim
    assert renamed.cameras == ["A", "B"]
    np.testing.assert_array_equal(renamed.data, kp.data)
    with pytest.raises(Mocap3dError, match="2 camera folders.*3 calibrated cameras"):
        read_openpose_folders(tmp_path, cameras=["a", "b", "c"])
    back = read_openpose_folders(tmp_path, frame_range=(11, 12))
    np.testing.assert_array_equal(back.frames, [11])


def test_bad_input_names_file(tmp_path):
    kp = _kp(C=1, F=3)
    write_openpose_folders(kp, tmp_path)
    f = tmp_path / "cam01_json" / "cam01_000011.json"
    text = f.read_text()
    f.write_text(text[: len(text) // 2])  # truncated
    with pytest.raises(FileFormatError, match=r"cam01_000011\.json, line 1: invalid or truncated JSON"):
        read_openpose_folders(tmp_path)
    f.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]}))  # 25 != 26
    with pytest.raises(FileFormatError, match=r"cam01_000011\.json.*25 keypoints per person, expected 26"):
        read_openpose_folders(tmp_path, skeleton=get_skeleton("HALPE_26"))
    f.write_text(json.dumps({"nobody": []}))
    with pytest.raises(FileFormatError, match="no 'people' list"):
        read_openpose_folders(tmp_path)
    with pytest.raises(FileFormatError, match="pose folder not found"):
        read_openpose_folders(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="no camera subfolder"):
        read_openpose_folders(tmp_path / "empty")


def test_negative_frame_numbers_round_trip(tmp_path):
    """Synced clocks can start before a camera's first frame: '_-00002' is frame -2."""
    from mocap3d.io.openpose import frame_number
    assert frame_number("cam01_-00002.json") == -2
    assert frame_number("video-0001.json") == 1  # a dash inside a name is not a sign
    data = np.full((1, 3, 1, 26, 3), 0.5)
    kp = Keypoints2D(data, ["cam01"], list(get_skeleton("HALPE_26").names), np.array([-2, -1, 0]), 30.0)
    write_openpose_folders(kp, tmp_path)
    back = read_openpose_folders(tmp_path)
    assert back.frames.tolist() == [-2, -1, 0]
