"""Importers: AlphaPose, DeepLabCut (.h5/.csv, single and multi animal), MMPose, MediaPipe."""
import json

import numpy as np
import pandas as pd
import pytest

from mocap3d.errors import FileFormatError, Mocap3dError
from mocap3d.io.importers import (alphapose_to_keypoints, alphapose_to_openpose, dlc_to_keypoints,
                                  dlc_to_openpose, mediapipe_array_to_keypoints, mediapipe_to_keypoints,
                                  mediapipe_to_openpose, mmpose_to_keypoints, mmpose_to_openpose)
from mocap3d.io.openpose import read_openpose_camera
from mocap3d.skeletons import get_skeleton

RNG = np.random.default_rng(7)


def _persons(n, K=17):
    out = np.empty((n, K, 3))
    out[..., :2] = RNG.uniform(0, 1000, (n, K, 2))
    out[..., 2] = RNG.uniform(0.1, 1, (n, K))
    return out


def test_alphapose(tmp_path):
    f0, f1 = _persons(2), _persons(1)
    f1[0, 5, 2] = 0.0  # zero score -> NaN
    dets = [{"image_id": "0.jpg", "category_id": 1, "keypoints": f0[0].ravel().tolist(), "score": 2.9, "idx": 3},
            {"image_id": "0.jpg", "category_id": 1, "keypoints": f0[1].ravel().tolist(), "score": 2.1, "idx": 1},
            {"image_id": "frame_12.jpg", "category_id": 1, "keypoints": f1[0].ravel().tolist(), "score": 2.5,
             "idx": [1]}]
    p = tmp_path / "alphapose-results.json"
    p.write_text(json.dumps(dets))
    kp = alphapose_to_keypoints(p, camera="cam01")
    assert kp.keypoints == list(get_skeleton("COCO_17").names)
    np.testing.assert_array_equal(kp.frames, [0, 12])
    np.testing.assert_array_equal(kp.data[0, 0], f0)
    assert np.isnan(kp.data[0, 1, 0, 5]).all() and np.isnan(kp.data[0, 1, 1]).all()
    by_idx = alphapose_to_keypoints(p, by_idx=True)
    np.testing.assert_array_equal(by_idx.data[0, 0, 0], f0[1])  # idx 1 first
    out = alphapose_to_openpose(p, tmp_path / "pose" / "cam01_json", camera="cam01")
    back = read_openpose_camera(out, skeleton=get_skeleton("COCO_17"))
    np.testing.assert_array_equal(back.data, kp.data)
    np.testing.assert_array_equal(back.frames, kp.frames)


def _dlc_frame(multi: bool):
    bodyparts = ["snout", "leftear", "rightear"]
    inds = ["mus1", "mus2"] if multi else [None]
    cols, vals = [], []
    F = 4
    truth = np.empty((F, len(inds), 3, 3))
    for p, ind in enumerate(inds):
        for k, bp in enumerate(bodyparts):
            xy = RNG.uniform(0, 640, (F, 2))
            lk = RNG.uniform(0.05, 1, F)
            truth[:, p, k] = np.column_stack([xy, lk])
            for j, c in enumerate(("x", "y", "likelihood")):
                cols.append(("DLC_resnet50", bp, c) if ind is None else ("DLC_resnet50", ind, bp, c))
                vals.append(truth[:, p, k, j])
    names = ["scorer", "bodyparts", "coords"] if not multi else ["scorer", "individuals", "bodyparts", "coords"]
    df = pd.DataFrame(np.column_stack(vals), columns=pd.MultiIndex.from_tuples(cols, names=names))
    if multi:
        df.iloc[2, :3] = np.nan  # mus1 snout missing in frame 2 (multi-animal DLC writes NaN)
        truth[2, 0, 0] = np.nan
    return df, truth, bodyparts


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("fmt", ["h5", "csv"])
def test_deeplabcut(tmp_path, multi, fmt):
    df, truth, bodyparts = _dlc_frame(multi)
    p = tmp_path / f"videocam01DLC_resnet50.{fmt}"
    if fmt == "h5":
        df.to_hdf(p, key="df_with_missing", mode="w")
    else:
        df.to_csv(p)
    kp = dlc_to_keypoints(p, camera="cam01")
    assert kp.keypoints == bodyparts and kp.cameras == ["cam01"]
    np.testing.assert_array_equal(kp.frames, np.arange(4))
    assert kp.data.shape == (1, 4, truth.shape[1], 3, 3)
    np.testing.assert_allclose(kp.data[0], truth, rtol=0, atol=1e-9 if fmt == "h5" else 1e-12)
    out = dlc_to_openpose(p, tmp_path / "cam01_json")
    np.testing.assert_allclose(read_openpose_camera(out).data, kp.data, atol=1e-12)


def test_deeplabcut_bad_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(FileFormatError, match=r"bad\.csv"):
        dlc_to_keypoints(p)


def test_mmpose(tmp_path):
    f0, f1 = _persons(1, 26), _persons(2, 26)
    frames = [{"frame_id": 0, "instances": [{"keypoints": f0[0, :, :2].tolist(),
                                             "keypoint_scores": f0[0, :, 2].tolist(), "bbox": [[0, 0, 9, 9]],
                                             "bbox_score": 0.9}]},
              {"frame_id": 1, "instances": [{"keypoints": p[:, :2].tolist(), "keypoint_scores": p[:, 2].tolist()}
                                            for p in f1]}]
    p = tmp_path / "results_cam02.json"
    p.write_text(json.dumps(frames))
    kp = mmpose_to_keypoints(p)
    assert kp.keypoints == list(get_skeleton("HALPE_26").names) and kp.cameras == ["results_cam02"]
    np.testing.assert_array_equal(kp.data[0, 0, 0], f0[0])
    np.testing.assert_array_equal(kp.data[0, 1], f1)
    p2 = tmp_path / "demo.json"  # the demo scripts' layout
    p2.write_text(json.dumps({"meta_info": {"dataset_name": "halpe26"}, "instance_info": frames}))
    np.testing.assert_array_equal(mmpose_to_keypoints(p2).data, kp.data)
    out = mmpose_to_openpose(p, tmp_path / "cam02_json")
    np.testing.assert_array_equal(read_openpose_camera(out).data, kp.data)
    p.write_text(json.dumps(frames)[:-40])
    with pytest.raises(FileFormatError, match=r"results_cam02\.json, line 1: invalid or truncated JSON"):
        mmpose_to_keypoints(p)


def test_mediapipe_array_json_csv(tmp_path):
    lm = np.empty((3, 33, 4))
    lm[..., :2] = RNG.uniform(0, 1, (3, 33, 2))
    lm[..., 2] = RNG.normal(size=(3, 33))  # z (ignored)
    lm[..., 3] = RNG.uniform(0.1, 1, (3, 33))
    kp = mediapipe_array_to_keypoints(lm, (1280, 720))
    assert kp.keypoints == list(get_skeleton("BLAZEPOSE").names)
    np.testing.assert_allclose(kp.data[0, :, 0, :, 0], lm[..., 0] * 1280)
    np.testing.assert_allclose(kp.data[0, :, 0, :, 1], lm[..., 1] * 720)
    np.testing.assert_allclose(kp.data[0, :, 0, :, 2], lm[..., 3])
    frames = [{"frame": 5 + i, "landmarks": [{"x": a[0], "y": a[1], "z": a[2], "visibility": a[3]} for a in f]}
              for i, f in enumerate(lm.tolist())]
    frames[1]["landmarks"] = []  # no person detected
    pj = tmp_path / "mp.json"
    pj.write_text(json.dumps(frames))
    kj = mediapipe_to_keypoints(pj, (1280, 720))
    np.testing.assert_array_equal(kj.frames, [5, 6, 7])
    np.testing.assert_allclose(kj.data[0, [0, 2]], kp.data[0, [0, 2]], atol=1e-9)
    assert np.isnan(kj.data[0, 1]).all()
    names = [f"p{i}" for i in range(33)]
    cols = {"frame": np.arange(3)}
    for k, n in enumerate(names):
        cols[f"{n}_x"], cols[f"{n}_y"], cols[f"{n}_visibility"] = lm[:, k, 0], lm[:, k, 1], lm[:, k, 3]
    pc = tmp_path / "mp.csv"
    pd.DataFrame(cols).to_csv(pc, index=False)
    kc = mediapipe_to_keypoints(pc, (1280, 720))
    assert kc.keypoints == names
    np.testing.assert_allclose(kc.data, kp.data, atol=1e-9)
    np.save(tmp_path / "mp.npy", lm)
    np.testing.assert_array_equal(mediapipe_to_keypoints(tmp_path / "mp.npy", (1280, 720)).data, kp.data)
    with pytest.raises(Mocap3dError, match="image_size"):
        mediapipe_to_keypoints(tmp_path / "mp.npy")
    out = mediapipe_to_openpose(lm, tmp_path / "cam01_json", (1280, 720))
    np.testing.assert_allclose(read_openpose_camera(out).data, kp.data, atol=1e-12)
    pc.write_text(pc.read_text().rsplit("\n", 2)[0] + "\n1,0.5\n")
    with pytest.raises(FileFormatError, match=r"mp\.csv, line 4: malformed or truncated row"):
        mediapipe_to_keypoints(pc, (1280, 720))
