"""Camera model against OpenCV's own projection and triangulation against truth."""
import cv2
import numpy as np
import pytest

from mocap3d.camera import (Camera, CameraRig, matrix_to_rodrigues, rodrigues_to_matrix,
                            triangulate_normalized)


def _look_at(pos, target=(0, 1, 0)):
    z = np.asarray(target, float) - pos
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, -1, 0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return matrix_to_rodrigues(R), -R @ pos


def _rig(n=4, fisheye_last=False):
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n
        pos = np.array([5 * np.cos(a), 1.0 + 0.2 * i, 5 * np.sin(a)])
        r, t = _look_at(pos)
        fish = fisheye_last and i == n - 1
        dist = [0.05, -0.01, 0.002, -0.001] if fish else [-0.25, 0.08, 0.001, -0.002, -0.01]
        cams.append(Camera(f"cam{i + 1:02d}", (1920, 1080), [[1400, 0, 955], [0, 1410, 545], [0, 0, 1]],
                           dist, r, t, fisheye=fish))
    return CameraRig(cams)


def test_rodrigues_round_trip_including_near_pi():
    rng = np.random.default_rng(1)
    for v in list(rng.normal(size=(20, 3))) + [np.array([np.pi - 1e-9, 0, 0]), np.zeros(3)]:
        R = rodrigues_to_matrix(v)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.allclose(rodrigues_to_matrix(matrix_to_rodrigues(R)), R, atol=1e-9)
        assert np.allclose(R, cv2.Rodrigues(np.asarray(v, float))[0], atol=1e-12)


def test_rodrigues_precise_near_half_turn():
    """Upright cameras in a Y-up world sit near a half turn: no precision may be lost there."""
    rng = np.random.default_rng(5)
    for _ in range(2000):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        R = rodrigues_to_matrix(axis * (np.pi - 10 ** rng.uniform(-12, -1)))
        assert np.abs(rodrigues_to_matrix(matrix_to_rodrigues(R)) - R).max() < 1e-9  # cv2.Rodrigues: ~2e-5


def test_projection_matches_opencv_pinhole_and_fisheye():
    rig = _rig(fisheye_last=True)
    X = np.random.default_rng(2).normal(size=(200, 3)) * 0.6 + [0, 1, 0]
    for cam in rig:
        ours = cam.project(X)
        if cam.fisheye:
            ref, _ = cv2.fisheye.projectPoints(X[:, None], cam.rotation, cam.translation, cam.matrix, cam.distortions)
        else:
            ref, _ = cv2.projectPoints(X, cam.rotation, cam.translation, cam.matrix, cam.distortions)
        assert np.abs(ours - ref.reshape(-1, 2)).max() < 1e-9


def test_undistort_inverts_distortion():
    rig = _rig(fisheye_last=True)
    X = np.random.default_rng(3).normal(size=(500, 3)) * 0.8 + [0, 1, 0]
    for cam in rig:
        uv = cam.project(X)
        xc = cam.world_to_camera(X)
        ideal = xc[:, :2] / xc[:, 2:]
        assert np.abs(cam.undistort_points(uv) - ideal).max() < 1e-10
        ref = cv2.undistortPoints(uv[:, None], cam.matrix, cam.distortions).reshape(-1, 2) if not cam.fisheye \
            else cv2.fisheye.undistortPoints(uv[:, None], cam.matrix, cam.distortions).reshape(-1, 2)
        assert np.abs(ref - ideal).max() < 1e-4  # OpenCV iterates less


def test_triangulation_exact_and_noisy():
    rig = _rig(6)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 26, 3)) * 0.5 + [0, 1, 0]
    uv = rig.project(X)
    assert np.abs(rig.triangulate(uv) - X).max() < 1e-9
    noisy = uv + rng.normal(size=uv.shape)
    err = np.linalg.norm(rig.triangulate(noisy, np.ones(uv.shape[:-1])) - X, axis=-1)
    assert np.median(err) < 0.003  # 1 px at ~5 m with f=1400 px is ~3.5 mm per view


def test_triangulation_weights_missing_and_single_camera():
    rig = _rig(4)
    X = np.array([[0.1, 1.2, -0.3], [0.0, 0.5, 0.2]])
    uv = rig.project(X)
    uv[0, 0] = np.nan               # camera 1 missing point 0
    w = np.ones(uv.shape[:-1])
    w[1:, 1] = 0                    # only camera 1 sees point 1
    out = rig.triangulate(uv, w)
    assert np.allclose(out[0], X[0], atol=1e-9)
    assert np.isnan(out[1]).all()
    # a wildly wrong camera with zero weight is ignored
    uv2 = rig.project(X)
    uv2[2] += 300
    w2 = np.ones(uv2.shape[:-1])
    w2[2] = 0
    assert np.allclose(rig.triangulate(uv2, w2), X, atol=1e-9)


def test_rig_lookup_and_subset():
    rig = _rig(4)
    assert rig["cam03"] is rig[2]
    assert rig.subset(["cam04", "cam01"]).names == ["cam04", "cam01"]
    with pytest.raises(ValueError):
        CameraRig([rig[0], rig[0]])
    assert np.allclose(rig[1].position, -rig[1].R.T @ rig[1].translation)


def test_triangulate_normalized_shape():
    rig = _rig(3)
    X = np.zeros((2, 3, 4, 3)) + [0, 1, 0]
    xy = rig.undistort_points(rig.project(X))
    assert triangulate_normalized(xy, rig.extrinsics()).shape == (2, 3, 4, 3)
