"""Blender add-on (blender_addon/) and ``mocap3d blender``, headless with the bpy module.

Truth: the Demo's true keypoints (.trc) and cameras (Calib_true.toml), the
project's own kinematics of them (.mot, scaled .osim), forward kinematics and
camera projection, and the Demo's 2D detections of camera 1.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mocap3d
from mocap3d.blender_scene import addon_dir, load_addon
from mocap3d.errors import Mocap3dError
from mocap3d.resources import demo_dir

HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy is not installed (pip install '.[blender]', Python 3.11)")
REPO = Path(mocap3d.__file__).resolve().parent.parent


readers = importlib.import_module(load_addon().__name__ + ".readers")
AXES, AXES4 = readers.AXES, readers.AXES4


def _trial_skeleton(folder: Path, kinematics_from: Path | None = None) -> Path:
    """A trial with the Demo's true keypoints in pose-3d/ and its true calibration."""
    demo = demo_dir()
    (folder / "pose-3d").mkdir(parents=True)
    (folder / "calibration").mkdir()
    shutil.copy(demo / "ground_truth" / "keypoints.trc", folder / "pose-3d" / "demo.trc")
    shutil.copy(demo / "ground_truth" / "Calib_true.toml", folder / "calibration" / "Calib_demo.toml")
    shutil.copy(demo / "Config.toml", folder / "Config.toml")
    if kinematics_from is not None:
        shutil.copytree(kinematics_from, folder / "kinematics")
    return folder


@pytest.fixture(scope="module")
def trial(tmp_path_factory) -> Path:
    """The Demo's true keypoints through the project's kinematics stage (writes demo_bodies.npz)."""
    folder = _trial_skeleton(tmp_path_factory.mktemp("blender") / "demo")
    mocap3d.kinematics(folder, quiet=True)
    assert (folder / "kinematics" / "demo_bodies.npz").is_file()
    return folder


@pytest.fixture(scope="module")
def addon():
    if not HAS_BPY:
        pytest.skip("bpy is not installed (pip install '.[blender]', Python 3.11)")
    import bpy
    mod = load_addon()
    mod.register()
    yield mod
    mod.unregister()
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def bl(addon):
    """A fresh empty scene for each test (bpy keeps its state between tests)."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy


def _objects(bpy, key: str) -> dict:
    return {o[key]: o for o in bpy.data.objects if key in o}


# --------------------------------------------------------------------------- body transforms file (no bpy)
def test_body_transforms_file(trial, tmp_path):
    d = readers.read_bodies(trial / "kinematics" / "demo_bodies.npz")
    assert int(d["format_version"]) == 1 and str(d["motion_file"]) == "demo.mot"
    assert d["transforms"].shape == (100, len(d["body_names"]), 4, 4)
    R = d["transforms"][..., :3, :3]
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-9)
    assert set(d["parent_names"]) - set(d["body_names"]) == {"ground"}
    newer = dict(d, format_version=np.array(99))
    np.savez(tmp_path / "new_bodies.npz", **newer)
    with pytest.raises(readers.AddonError, match="format_version 99"):
        readers.read_bodies(tmp_path / "new_bodies.npz")


def test_bodies_written_from_an_older_run(trial, tmp_path):
    """``mocap3d blender`` writes the transforms of a .mot + _scaled.osim that lack them: same numbers."""
    from mocap3d.blender_scene import ensure_body_transforms
    folder = tmp_path / "old"
    shutil.copytree(trial / "kinematics", folder / "kinematics")
    (folder / "kinematics" / "demo_bodies.npz").unlink()
    assert [p.name for p in ensure_body_transforms(folder)] == ["demo_bodies.npz"]
    a = readers.read_bodies(trial / "kinematics" / "demo_bodies.npz")
    b = readers.read_bodies(folder / "kinematics" / "demo_bodies.npz")
    assert np.abs(a["transforms"] - b["transforms"]).max() < 1e-8   # .mot keeps 12 digits


# --------------------------------------------------------------------------- quality bars
@needs_bpy
def test_markers_follow_the_trc(trial, bl):
    """Every marker at every frame equals the .trc (read by the project's reader) after (x, y, z) -> (x, -z, y)."""
    from mocap3d.io.trc import read_trc
    assert bl.ops.mocap3d.import_trial(directory=str(trial)) == {"FINISHED"}
    trc = read_trc(trial / "pose-3d" / "demo.trc")
    objs = _objects(bl, "mocap3d_marker")
    assert sorted(objs) == sorted(trc.names) and all(objs[n].name == n for n in trc.names)
    scene = bl.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, 100) and scene.render.fps / scene.render.fps_base == 30
    err = []
    for f in range(len(trc.data)):
        scene.frame_set(f + 1)
        got = np.array([tuple(objs[n].matrix_world.translation) for n in trc.names])
        err.append(np.abs(got - trc.data[f] @ AXES.T).max())
    print(f"markers: max |Blender - trc| = {max(err):.2e} m")
    assert max(err) < 1e-6


@needs_bpy
def test_bodies_follow_forward_kinematics(trial, bl):
    """Every body's world transform equals the project's forward kinematics of the .mot (1e-5 m, 0.01 deg)."""
    import opensim as osim

    from mocap3d.io.mot import read_mot
    from mocap3d.kinematics.body_transforms import body_transforms
    from mocap3d.kinematics.forward import body_origins
    assert bl.ops.mocap3d.import_trial(directory=str(trial)) == {"FINISHED"}
    model = osim.Model(str(trial / "kinematics" / "demo_scaled.osim"))
    model.initSystem()
    mot = read_mot(trial / "kinematics" / "demo.mot")
    cs = model.getCoordinateSet()
    q = mot.data.copy()
    rot = np.array([cs.get(c).getMotionType() == 1 for c in mot.columns])
    q[:, rot] = np.deg2rad(q[:, rot])
    names, T = body_transforms(model, q, mot.columns)
    origins = body_origins(model, q, mot.columns, names)
    assert np.abs(origins - T[..., :3, 3]).max() < 1e-12
    objs = _objects(bl, "mocap3d_body")
    assert sorted(objs) == sorted(names)
    scene = bl.context.scene
    pos_err, ang_err = 0.0, 0.0
    for f in range(len(q)):
        scene.frame_set(f + 1)
        for b, n in enumerate(names):
            M = np.array(objs[n].matrix_world)
            want = AXES4 @ T[f, b]
            pos_err = max(pos_err, np.linalg.norm(M[:3, 3] - want[:3, 3]))
            chord = np.linalg.norm(M[:3, :3] - want[:3, :3]) / (2 * np.sqrt(2))  # = sin(angle / 2), no arccos
            ang_err = max(ang_err, np.degrees(2 * np.arcsin(min(chord, 1.0))))
    print(f"bodies: max position error {pos_err:.2e} m, max angle error {ang_err:.2e} deg")
    assert pos_err < 1e-5 and ang_err < 0.01


@needs_bpy
@pytest.mark.parametrize("up", ["Y", "Z"])
def test_cameras_project_like_the_project(bl, up, tmp_path):
    """A 3D point seen through each imported Demo camera lands on the project's projection (no distortion).

    With a Z-up calibration world (Pose2Sim, Qualisys) the cameras are turned like the triangulation turns
    its points into the .trc: (X, Y, Z) -> (Y, Z, X).
    """
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from mocap3d.camera import CameraRig, matrix_to_rodrigues
    from mocap3d.io.calibration_toml import read_calibration, write_calibration
    from mocap3d.io.trc import read_trc
    calib = demo_dir() / "ground_truth" / "Calib_true.toml"
    rig = read_calibration(calib)
    if up == "Z":   # the same cameras in a world whose Z is the .trc's Y: X_z = P^T X_trc
        P = readers.ZUP_TO_YUP
        zrig = CameraRig([c.copy(rotation=matrix_to_rodrigues(c.R @ P)) for c in rig])
        calib = write_calibration(zrig, tmp_path / "Calib_zup.toml", metadata={"up_axis": "Z"})
    assert bl.ops.mocap3d.import_calibration(filepath=str(calib)) == {"FINISHED"}
    pts = read_trc(demo_dir() / "ground_truth" / "keypoints.trc").data[::5].reshape(-1, 3)
    pts = np.concatenate([pts, pts + [0.0, 0.8, 0.0], pts + [0.3, -0.5, 0.6]])  # spread over the image
    worst = {}
    for cam in rig:
        cam = cam.copy(distortions=np.zeros(5))
        assert bl.ops.mocap3d.use_camera(name=cam.name) == {"FINISHED"}
        w, h = cam.size
        uv = cam.project(pts)
        ok = (cam.world_to_camera(pts)[:, 2] > 0) & (uv[:, 0] > 0) & (uv[:, 0] < w) & (uv[:, 1] > 0) & (uv[:, 1] < h)
        assert ok.sum() > 100
        obj = bl.data.objects[cam.name]
        got = np.array([tuple(world_to_camera_view(bl.context.scene, obj, Vector((AXES @ p).tolist())))
                        for p in pts[ok]])
        uv_bl = np.column_stack([got[:, 0] * w - 0.5, (1 - got[:, 1]) * h - 0.5])
        worst[cam.name] = float(np.linalg.norm(uv_bl - uv[ok], axis=1).max())
    print(f"cameras ({up} up): max pixel difference " + ", ".join(f"{k} {v:.4f} px" for k, v in worst.items()))
    assert max(worst.values()) < 0.5


@needs_bpy
def test_preview_render_shows_model_on_the_person(trial, bl, tmp_path):
    """Rendered from each Demo camera, the model covers the person's 2D keypoints detected in its images."""
    import matplotlib.image as mpimg
    from scipy.ndimage import distance_transform_edt

    from mocap3d.io.calibration_toml import read_calibration
    from mocap3d.io.openpose import read_openpose_camera
    from mocap3d.synthetic.writer import read_truth
    addon = sys.modules["mocap3d_blender"]
    assert bl.ops.mocap3d.import_trial(directory=str(trial)) == {"FINISHED"}
    from mocap3d.io.trc import read_trc
    truth = read_truth(demo_dir() / "ground_truth")
    true3d = read_trc(demo_dir() / "ground_truth" / "keypoints.trc").data
    percent, scale, dists, metres, ious = 50, 0.5, [], [], []
    for c, cam in enumerate(read_calibration(trial / "calibration" / "Calib_demo.toml")):
        kp = read_openpose_camera(demo_dir() / "pose" / f"{cam.name}_json")
        for n in (30, 70):   # the camera's image n is at the truth's time (n + offset) / rate: Blender frame 1 + n + offset
            out = addon.export.render_preview(tmp_path, cam.name, percent, movie=False,
                                              frame=1 + n + truth["offsets"][cam.name], name=f"{cam.name}_{n}")
            alpha = mpimg.imread(out["png"])[..., 3] > 0.2
            assert alpha.shape == (cam.size[1] // 2, cam.size[0] // 2)
            slot = list(truth["identities"][c][n]).index(0)
            det = kp.data[0, list(kp.frames).index(n), slot]
            good = (det[:, 2] > 0.5) & (truth["swapped"][c][n][slot] == 0)
            if good.sum() < 8:   # missed detection in this image
                continue
            uv = cam.undistort_pixels(det[good, :2])          # Blender cameras have no lens distortion
            rc = ((uv + 0.5) * scale - 0.5)[:, ::-1]           # render pixel (row, col)
            dist = distance_transform_edt(~alpha) / scale      # full-resolution pixels to the model
            idx = np.clip(np.round(rc).astype(int), 0, np.array(alpha.shape) - 1)
            d = dist[idx[:, 0], idx[:, 1]]
            dists += list(d)
            depth = np.nanmean(cam.world_to_camera(true3d[int(round(n + truth["offsets"][cam.name]))])[:, 2])
            metres += list(d * depth / cam.matrix[0, 0])   # the same distance at the person, in metres
            rows, cols = np.nonzero(alpha)   # the model's box against the keypoints' box (their overlap)
            box = np.array([cols.min(), rows.min(), cols.max(), rows.max()]) / scale
            kbox = np.concatenate([uv.min(axis=0), uv.max(axis=0)])
            inter = np.prod(np.clip(np.minimum(box[2:], kbox[2:]) - np.maximum(box[:2], kbox[:2]), 0, None))
            ious.append(inter / (np.prod(box[2:] - box[:2]) + np.prod(kbox[2:] - kbox[:2]) - inter))
    dists, metres = np.array(dists), np.array(metres)
    assert len(dists) >= 120 and len(ious) >= 6
    print(f"render: {len(dists)} keypoints, {np.mean(dists == 0):.0%} on model pixels, median {np.median(dists):.1f} "
          f"px, p95 {np.percentile(dists, 95):.1f} px, max {dists.max():.1f} px (full resolution) = {metres.max() * 100:.1f} cm "
          f"at the person; box overlap (IoU) "
          f"of the model and the keypoints {min(ious):.2f}-{max(ious):.2f}")
    # the keypoints are on the body's surface (eyes and ears ~8 cm off the head's bone), the bones at its axis
    assert np.median(dists) == 0 and metres.max() < 0.10
    assert min(ious) > 0.8


# --------------------------------------------------------------------------- exports and bad input
@needs_bpy
def test_exports(trial, bl, tmp_path):
    addon = sys.modules["mocap3d_blender"]
    assert bl.ops.mocap3d.import_trial(directory=str(trial), armature=True) == {"FINISHED"}
    arm = [o for o in bl.data.objects if o.type == "ARMATURE"][0]
    scene = bl.context.scene
    assert arm.animation_data.action is not None and not any(pb.constraints for pb in arm.pose.bones)
    d = readers.read_bodies(trial / "kinematics" / "demo_bodies.npz")
    for frame in (1, 40, 77):   # each bone moves rigidly with its body: bone pose = motion of the body x rest
        scene.frame_set(frame)
        for name in ("pelvis", "femur_r", "tibia_l", "toes_r", "hand_l", "head"):
            b = list(d["body_names"]).index(name)
            motion = np.array(bl.data.objects[name].matrix_world) @ np.linalg.inv(AXES4 @ d["rest_transforms"][b])
            want = motion @ np.array(arm.data.bones[name].matrix_local)
            assert np.abs(np.array(arm.pose.bones[name].matrix) - want).max() < 1e-5, (frame, name)
    assert bl.ops.mocap3d.save_blend(filepath=str(tmp_path / "t.blend")) == {"FINISHED"}
    assert bl.ops.mocap3d.export_model(filepath=str(tmp_path / "t.glb")) == {"FINISHED"}
    assert bl.ops.mocap3d.export_model(filepath=str(tmp_path / "t.fbx")) == {"FINISHED"}
    raw = (tmp_path / "t.glb").read_bytes()
    n = int.from_bytes(raw[12:16], "little")
    gltf = json.loads(raw[20:20 + n])
    assert {"pelvis", "femur_r", "RKnee"} <= {nd["name"] for nd in gltf["nodes"]} and gltf["animations"]
    assert (tmp_path / "t.fbx").stat().st_size > 10_000
    out = addon.export.render_preview(tmp_path / "free", None, 10, movie=True, frame_step=25)
    assert out["png"].is_file() and out["movie"].is_file()
    bl.ops.wm.open_mainfile(filepath=str(tmp_path / "t.blend"))
    assert "pelvis" in bl.data.objects and bl.data.objects["pelvis"].animation_data.action is not None


@needs_bpy
def test_markers_only_trial_and_millimetres(trial, bl, tmp_path):
    from mocap3d.io.trc import read_trc, write_trc
    folder = _trial_skeleton(tmp_path / "markers_only")
    m = read_trc(folder / "pose-3d" / "demo.trc")
    m.data = m.data * 1000
    write_trc(m, folder / "pose-3d" / "demo.trc")
    lines = (folder / "pose-3d" / "demo.trc").read_text().splitlines()
    lines[2] = lines[2].replace("\tm\t", "\tmm\t")
    (folder / "pose-3d" / "demo.trc").write_text("\n".join(lines) + "\n")
    assert "\tmm\t" in lines[2]
    assert bl.ops.mocap3d.import_trial(directory=str(folder)) == {"FINISHED"}
    messages = list(bl.context.scene["mocap3d_messages"])
    assert any("no kinematics" in s for s in messages) and any("converted to metres" in s for s in messages)
    assert not _objects(bl, "mocap3d_body") and len(_objects(bl, "mocap3d_marker")) == 26
    bl.context.scene.frame_set(11)
    nose = np.array(bl.data.objects["Nose"].matrix_world.translation)
    assert np.abs(nose - AXES @ (m.data[10, 0] / 1000)).max() < 1e-6
    # single files: the model added to the markers-only scene, and a .trc in unknown units refused whole
    assert bl.ops.mocap3d.import_bodies(filepath=str(trial / "kinematics" / "demo_bodies.npz")) == {"FINISHED"}
    assert len(_objects(bl, "mocap3d_body")) == 22
    (folder / "pose-3d" / "demo.trc").write_text("\n".join(lines[:2] + [lines[2].replace("\tmm\t", "\tkm\t")]
                                                           + lines[3:]) + "\n")
    n = len(bl.data.objects)
    with pytest.raises(RuntimeError, match="Units = 'km'"):
        bl.ops.mocap3d.import_trc(filepath=str(folder / "pose-3d" / "demo.trc"))
    assert len(bl.data.objects) == n


def _video(path: Path, n: int = 3) -> None:
    import cv2
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(n):
        w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    w.release()


@needs_bpy
def test_videos_match_or_nothing_is_built(trial, bl, tmp_path):
    folder = _trial_skeleton(tmp_path / "videos", trial / "kinematics")
    (folder / "videos").mkdir()
    for name in ("cam01", "cam02", "cam03", "camXX"):
        _video(folder / "videos" / f"{name}.mp4")
    before = len(bl.data.objects)
    with pytest.raises(RuntimeError, match="do not match the videos"):   # an operator's error, from Python
        bl.ops.mocap3d.import_trial(directory=str(folder))
    assert len(bl.data.objects) == before == 0 and not bl.data.collections and not bl.data.actions
    (folder / "videos" / "camXX.mp4").rename(folder / "videos" / "cam04.mp4")
    (folder / "pose-sync").mkdir()   # cam01's image n is at the .trc's time (n + 2.3) / rate
    (folder / "pose-sync" / "synchronization_report.json").write_text(json.dumps(
        {"offsets_frames": {"cam01": 2.3, "cam02": 0.0, "cam03": -1.0, "cam04": 0.0}}))
    assert bl.ops.mocap3d.import_trial(directory=str(folder)) == {"FINISHED"}
    cams = _objects(bl, "mocap3d_camera")
    assert sorted(cams) == ["cam01", "cam02", "cam03", "cam04"]
    for name, obj in cams.items():
        bg = obj.data.background_images[0]
        assert Path(bg.clip.filepath).name == f"{name}.mp4" and obj.data.show_background_images
    assert [cams[n].data.background_images[0].clip.frame_start for n in sorted(cams)] == [3, 1, 0, 1]
    assert any("cam01 +2.30" in s for s in bl.context.scene["mocap3d_messages"])
    shutil.rmtree(folder / "videos")
    bl.ops.wm.read_factory_settings(use_empty=True)
    assert bl.ops.mocap3d.import_trial(directory=str(folder)) == {"FINISHED"}
    assert any("no videos" in s for s in bl.context.scene["mocap3d_messages"])
    assert len(_objects(bl, "mocap3d_camera")) == 4 and len(_objects(bl, "mocap3d_body")) == 22


# --------------------------------------------------------------------------- the command
@needs_bpy
def test_cli_blender(trial, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "mocap3d", "blender", str(trial), "--out", str(out),
                           "--no-movie", "--percent", "10", "--format", "glb"], capture_output=True, text=True,
                          timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads((out / "blender_report.json").read_text())
    assert rep["camera"] == "cam01"
    for key in ("blend", "glb", "png"):
        assert Path(rep["files"][key]).is_file()


@needs_bpy
def test_blender_executable_on_path(trial, tmp_path, monkeypatch):
    """Without the bpy module, a 'blender' on PATH runs the same script (--background ... --python-expr)."""
    import types

    import mocap3d.blender_scene as bs
    exe = tmp_path / "bin" / "blender"
    exe.parent.mkdir()
    # stands in for Blender: checks the flags, then runs the --python-expr script with a Python that has bpy
    exe.write_text(f"""#!/bin/sh
[ "$1" = "--background" ] || exit 9
for a; do last="$a"; done
exec {sys.executable} -c "$last"
""")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{exe.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.setattr(bs, "importlib", types.SimpleNamespace(util=types.SimpleNamespace(find_spec=lambda n: None)))
    assert bs.blender_command()[:2] == [str(exe), "--background"]
    rep = bs.export_trial(trial, tmp_path / "out", camera="free", percent=10, movie=False, formats=("fbx",))
    assert rep["camera"] == "free camera" and Path(rep["files"]["fbx"]).is_file() and Path(rep["files"]["png"]).is_file()
    with pytest.raises(Mocap3dError, match="no camera 'cam09'"):
        bs.export_trial(trial, tmp_path / "out", camera="cam09", percent=10, movie=False, formats=())


def test_cli_without_blender(tmp_path, monkeypatch):
    import mocap3d.blender_scene as bs
    monkeypatch.setattr(bs, "blender_command", lambda: None)
    with pytest.raises(Mocap3dError, match="Blender not found: install the bpy module"):
        mocap3d.api.blender(_trial_skeleton(tmp_path / "t"))


def test_addon_zip(tmp_path):
    """One zip installs both ways: a folder with the extension manifest and the legacy bl_info."""
    import tomllib
    import zipfile

    from mocap3d.cli import main
    assert main(["blender", "--addon-zip", str(tmp_path / "a.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("mocap3d_blender/blender_manifest.toml").decode())
        init = zf.read("mocap3d_blender/__init__.py").decode()
    assert {"mocap3d_blender/__init__.py", "mocap3d_blender/readers.py", "mocap3d_blender/scene.py",
            "mocap3d_blender/ui.py", "mocap3d_blender/export.py"} <= names
    assert manifest["id"] == "mocap3d" and manifest["type"] == "add-on" and manifest["blender_version_min"] >= "4.2"
    assert "bl_info" in init and "import bpy" not in init.split("def register")[0]   # bpy only once registered
    for f in addon_dir().glob("*.py"):   # runs in Blender's Python: no mocap3d, no OpenSim
        imports = [ln.split()[1] for ln in f.read_text().splitlines() if ln.strip().startswith(("import ", "from "))]
        assert not [m for m in imports if m.split(".")[0] in ("mocap3d", "opensim", "scipy", "cv2")], f.name
