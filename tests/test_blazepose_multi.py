"""Several people with BlazePose's own detector: weighted NMS over every person, following each one,
finding people the detector merges, dropping the lost, merging duplicates; a synthetic scene whose
people are known, then the real models on two copies of a photograph."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
import matplotlib  # noqa: E402

from mocap3d.pose.blazepose_multi import BlazePoseOnnxMulti, duplicates, mask_persons  # noqa: E402
from mocap3d.pose.blazepose_onnx import Roi, roi_from_alignment, weighted_nms  # noqa: E402

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
BODY = 100.0      # px from hip centre to the body-size point in the synthetic scene


def test_weighted_nms_keeps_every_person_best_first():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0.5, 0, 10.5, 10]], float)
    kps = np.zeros((4, 4, 2))
    kps[:, 0, 0] = [1.0, 2.0, 55.0, 4.0]
    scores = np.array([0.9, 0.6, 0.8, 0.3])
    out, best = weighted_nms(boxes, kps, scores)
    assert best.tolist() == [0.9, 0.8]
    assert out[0, 0, 0] == pytest.approx((0.9 * 1 + 0.6 * 2 + 0.3 * 4) / 1.8)   # score-weighted cluster mean
    assert out[1, 0, 0] == pytest.approx(55.0)
    empty, none = weighted_nms(np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))
    assert empty.shape == (0, 4, 2) and none.shape == (0,)


class Scene:
    """People as hip centres per frame (NaN = absent); images are grey-free except a white dot per hip."""

    def __init__(self, hips: np.ndarray) -> None:
        self.hips = hips          # (F, N, 2)
        self.frame = 0
        self.detected_at: list[int] = []

    def image(self, f: int) -> np.ndarray:
        self.frame = f
        img = np.zeros((600, 800, 3), np.uint8)
        for h in self.hips[f]:
            if np.isfinite(h).all():
                img[int(h[1]), int(h[0])] = 255
        return img

    def landmarks(self, person: int, f: int) -> np.ndarray:
        h = self.hips[f, person]
        px = np.zeros((39, 2))
        px[:33] = h + np.stack([np.linspace(-40, 40, 33), np.linspace(-150, 100, 33)], 1)
        px[33], px[34] = h, h + [0, -BODY]
        return px

    def detect_all(self, image: np.ndarray) -> list[Roi]:
        """Like BlazePose's detector on overlapping people: only the first person not painted out
        (the others are merged into it by non-maximum suppression)."""
        self.detected_at.append(self.frame)
        for n, h in enumerate(self.hips[self.frame]):
            if np.isfinite(h).all() and image[int(h[1]), int(h[0])].tolist() == [255, 255, 255]:
                px = self.landmarks(n, self.frame)
                return [roi_from_alignment(px[33] + [3, -2], px[34])]
        return []

    def pose(self) -> "FakePose":
        return FakePose(self)


class FakePose:
    """The landmark model: the person whose hip is near the ROI centre, presence 0 if none."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.last_world = None

    def landmarks(self, image: np.ndarray, roi: Roi):
        s = self.scene
        d = np.linalg.norm(s.hips[s.frame] - [roi.cx, roi.cy], axis=1)
        if not np.isfinite(d).any() or np.nanmin(d) > 0.3 * roi.w:
            return np.zeros((39, 2)), np.zeros(39), 0.0
        n = int(np.nanargmin(d))
        return s.landmarks(n, s.frame), np.full(39, 0.9), 0.95


def test_every_person_found_followed_dropped_and_added():
    F = 16
    t = np.arange(F)[:, None]
    hips = np.full((F, 3, 2), np.nan)
    hips[:, 0] = np.hstack([200 + 4 * t, 300 + 0 * t])           # person A, the whole time
    hips[:7, 1] = np.hstack([260 + 3 * t[:7], 320 + 0 * t[:7]])  # person B, close to A (merged by the detector), leaves at 7
    hips[9:, 2] = np.hstack([600 - 5 * t[9:], 350 + 0 * t[9:]])  # person C enters at frame 9
    scene = Scene(hips)
    est = BlazePoseOnnxMulti(scene.pose(), scene.detect_all, det_frequency=4, rate=60.0)
    counts = []
    for f in range(F):
        out = est(scene.image(f))
        counts.append(len(out))
        hips_out = out[:, :33, :2].mean(1) - [0, -25]   # the fake landmarks' mean sits 25 px above the hip
        truth = hips[f][np.isfinite(hips[f]).all(1)]
        d = np.linalg.norm(hips_out[:, None] - truth[None], axis=-1)     # (found, true)
        assert ((d < 1e-6).sum(1) == 1).all() and ((d < 1e-6).sum(0) <= 1).all()   # each at a true person, once
        assert out.shape[1:] == (33, 3) and est.world.shape == (len(out), 33, 4)
    # A and B from the first frame (B found behind A once A is painted out); B lost at 7;
    # C entering at 9 is found at the next detection frame (12).
    assert counts == [2] * 7 + [1] * 5 + [2] * 4
    assert sorted(set(scene.detected_at)) == [0, 4, 8, 12]     # the detector runs every 4th frame only


def test_followed_persons_converging_on_one_body_are_merged():
    px = np.zeros((39, 2))
    px[:33] = np.stack([np.linspace(0, 80, 33), np.linspace(0, 250, 33)], 1)
    px[33] = [40, 150]
    near = px + 5.0
    far = px + [300.0, 0.0]
    assert duplicates([px, near, far], [400.0, 400.0, 400.0], 0.15) == [1]
    assert duplicates([px, far], [400.0, 400.0], 0.15) == []


def test_mask_paints_the_persons_hull_grey():
    img = np.full((100, 100, 3), 255, np.uint8)
    kp = np.array([[20, 20, 0.9], [60, 20, 0.9], [40, 70, 0.9], [90, 90, 0.1]], float)
    out = mask_persons(img, [kp], [100.0])
    assert out[35, 40].tolist() == [127, 127, 127] and out[90, 90].tolist() == [255, 255, 255]
    assert img[35, 40].tolist() == [255, 255, 255]                                   # input untouched


def test_run_pose_with_multi_person_finds_both_copies_of_the_photograph(tmp_path):
    """The real detector and landmark model: the photograph twice side by side, multi_person = true."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("mediapipe")
    if not PHOTO.is_file():
        pytest.skip(f"matplotlib sample photograph missing: {PHOTO}")
    from mocap3d.config import default_config
    from mocap3d.io.openpose import read_openpose_folders
    from mocap3d.pose import run_pose
    from mocap3d.project import Trial
    from mocap3d.skeletons import BLAZEPOSE
    img = cv2.imread(str(PHOTO))
    two = np.concatenate([img, img], axis=1)              # 1024 x 600
    videos = tmp_path / "videos"
    videos.mkdir()
    vw = cv2.VideoWriter(str(videos / "cam1.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (1024, 600))
    for _ in range(3):
        vw.write(two)
    vw.release()
    cfg = default_config()
    cfg["project"]["multi_person"] = True
    cfg["pose"].update(parallel_workers_pose=1)
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    assert report["cameras"][0]["persons_tracked"] == 2 and report["backend"] == "onnxruntime"
    kp = read_openpose_folders(tmp_path / "pose", skeleton=BLAZEPOSE).data[0]     # (F, 2, 33, 3)
    nose = BLAZEPOSE.names.index("Nose")
    for f in range(3):
        x = np.sort(kp[f, :, nose, 0])
        assert 180 < x[0] < 350 and 180 + 512 < x[1] < 350 + 512       # one face in each copy
        assert (kp[f, :, nose, 2] > 0.9).all()
