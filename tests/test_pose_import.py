"""The pose stage imports other detectors' results ([pose] import_from) into pose/<cam>_json/."""
import json

import numpy as np
import pytest

import mocap3d
from mocap3d.errors import Mocap3dError
from mocap3d.io.openpose import read_openpose_folders
from mocap3d.skeletons import get_skeleton


def _alphapose_file(path, n_frames, seed):
    rng = np.random.default_rng(seed)
    kps = rng.uniform(10, 900, (n_frames, 26, 3))
    kps[..., 2] = rng.uniform(0.2, 1.0, (n_frames, 26))
    dets = [{"image_id": f"{f}.jpg", "category_id": 1, "keypoints": kps[f].ravel().tolist(), "score": 2.0, "idx": 1}
            for f in range(n_frames)]
    path.write_text(json.dumps(dets))
    return kps


def test_alphapose_results_become_openpose_folders(tmp_path):
    (tmp_path / "Config.toml").write_text("[pose]\nimport_from = 'alphapose'\npose_model = 'HALPE_26'\n")
    (tmp_path / "pose-import").mkdir()
    truth = {cam: _alphapose_file(tmp_path / "pose-import" / f"{cam}.json", 5, i)
             for i, cam in enumerate(["cam01", "cam02"])}
    res = mocap3d.pose(tmp_path, quiet=True)
    assert res[0].status == "ok" and res[0].report["imported_from"] == "alphapose"
    kp = read_openpose_folders(tmp_path / "pose", skeleton=get_skeleton("HALPE_26"))
    assert kp.cameras == ["cam01", "cam02"]
    for c, cam in enumerate(kp.cameras):
        np.testing.assert_allclose(kp.data[c, :, 0], truth[cam], atol=1e-9)


def test_import_without_files_names_the_folder(tmp_path):
    (tmp_path / "Config.toml").write_text("[pose]\nimport_from = 'mmpose'\n")
    with pytest.raises(Mocap3dError, match="pose-import"):
        mocap3d.pose(tmp_path, quiet=True)
