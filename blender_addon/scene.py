"""Build the Blender scene of a trial: markers, the model's bodies, an armature, cameras, floor, axes, timeline.

Every builder checks all its inputs before it creates anything, and removes what
it created when something fails: a bad input leaves the scene as it was.
Positions follow :data:`readers.AXES` (OpenSim Y up -> Blender Z up).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import bmesh
import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import readers
from .readers import AXES4, AddonError

LEFT, RIGHT, MIDDLE = (0.25, 0.45, 0.95, 1.0), (0.95, 0.35, 0.25, 1.0), (0.85, 0.85, 0.8, 1.0)


@dataclass
class Imported:
    """What an import created (the collection, and messages for the user)."""

    collection: bpy.types.Collection | None = None
    messages: list[str] = field(default_factory=list)
    rate: float = 0.0
    frames: tuple[int, int] = (1, 1)


class _Created:
    """Track created data blocks so a failed import can remove them all."""

    def __init__(self) -> None:
        self.items: list = []

    def add(self, item):
        self.items.append(item)
        return item

    def remove_all(self) -> None:
        for item in reversed(self.items):
            with contextlib.suppress(ReferenceError, RuntimeError):
                coll = {bpy.types.Object: bpy.data.objects, bpy.types.Collection: bpy.data.collections,
                        bpy.types.Action: bpy.data.actions, bpy.types.Mesh: bpy.data.meshes,
                        bpy.types.Camera: bpy.data.cameras, bpy.types.Armature: bpy.data.armatures,
                        bpy.types.MovieClip: bpy.data.movieclips}
                for t, store in coll.items():
                    if isinstance(item, t):
                        store.remove(item)
                        break


@contextlib.contextmanager
def _transaction() -> Iterator[_Created]:
    created = _Created()
    try:
        yield created
    except BaseException:
        created.remove_all()
        raise


def _collection(name: str, created: _Created, parent: bpy.types.Collection | None = None) -> bpy.types.Collection:
    coll = created.add(bpy.data.collections.new(name))
    (parent or bpy.context.scene.collection).children.link(coll)
    return coll


def _side_color(body: str) -> tuple[float, float, float, float]:
    """Left bodies blue, right red (OpenSim's ``_l``/``_r`` suffixes), others grey."""
    return LEFT if body.endswith("_l") else RIGHT if body.endswith("_r") else MIDDLE


def _animate(obj: bpy.types.Object, frames: np.ndarray, channels: dict[str, np.ndarray], created: _Created) -> None:
    """Linear keys: ``channels`` maps a data path to (F, K) values at ``frames`` (F,) (rows with NaN skipped)."""
    action = created.add(bpy.data.actions.new(f"{obj.name}_action"))
    for path, values in channels.items():
        ok = np.all(np.isfinite(values), axis=1)
        for i in range(values.shape[1]):
            fc = action.fcurves.new(path, index=i, action_group=obj.name)
            n = int(ok.sum())
            fc.keyframe_points.add(n)
            co = np.column_stack([frames[ok], values[ok, i]]).astype(np.float32)
            fc.keyframe_points.foreach_set("co", co.ravel())
            fc.keyframe_points.foreach_set("interpolation", np.full(n, 1, dtype=np.int32))  # LINEAR
            fc.update()
    obj.animation_data_create()
    obj.animation_data.action = action


def set_timeline(rate: float, first: int, last: int) -> None:
    """Scene frame range and rate (``fps / fps_base = rate``)."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = int(first), int(last)
    fps = max(1, int(round(rate)))
    scene.render.fps, scene.render.fps_base = fps, fps / rate
    scene.frame_set(int(first))


def _check_rate(rate: float, imported: Imported, what: str) -> None:
    if imported.rate and abs(rate - imported.rate) > 1e-6 * rate:
        imported.messages.append(f"{what}: {rate:g} Hz differs from {imported.rate:g} Hz; frames follow the times")


# --------------------------------------------------------------------------- markers
def add_markers(trc: readers.Trc, parent: bpy.types.Collection | None, created: _Created,
                size: float = 0.02) -> bpy.types.Collection:
    """One animated empty per marker, named like the marker, in a collection named like the file."""
    coll = _collection(f"{trc.path.stem} markers", created, parent)
    frames = readers.frames_of(trc.times, trc.rate)
    pts = readers.to_blender(trc.data)
    for m, name in enumerate(trc.names):
        obj = created.add(bpy.data.objects.new(name, None))
        obj.empty_display_type = "SPHERE"
        obj.empty_display_size = size
        obj["mocap3d_marker"] = name
        coll.objects.link(obj)
        _animate(obj, frames, {"location": pts[:, m]}, created)
    return coll


def import_trc(path: str | Path, imported: Imported | None = None, parent=None) -> Imported:
    """Markers of one ``.trc`` file (see :func:`add_markers`); sets the timeline when nothing else did."""
    imported = imported or Imported()
    trc = readers.read_trc(path)
    imported.messages += trc.messages
    with _transaction() as created:
        coll = add_markers(trc, parent, created)
    imported.collection = imported.collection or coll
    _timeline_from(imported, trc.times, trc.rate)
    return imported


def _timeline_from(imported: Imported, times: np.ndarray, rate: float) -> None:
    frames = readers.frames_of(times, rate)
    first, last = int(frames.min()), int(frames.max())
    if imported.rate:
        first, last = min(first, imported.frames[0]), max(last, imported.frames[1])
    imported.rate = imported.rate or rate
    imported.frames = (first, last)
    set_timeline(imported.rate, first, last)


# --------------------------------------------------------------------------- model
def _body_mesh(name: str, ends: np.ndarray, radius: float, created: _Created) -> bpy.types.Mesh:
    """A joint sphere at the origin and a tapered cylinder toward each end (body frame, metres)."""
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=radius)
    for end in ends:
        v = Vector(end.tolist())
        length = v.length
        if length < 1e-6:
            continue
        rot = Vector((0, 0, 1)).rotation_difference(v.normalized()).to_matrix().to_4x4()
        mat = rot @ Matrix.Translation((0, 0, length / 2))
        bmesh.ops.create_cone(bm, cap_ends=True, segments=10, radius1=radius * 0.8, radius2=radius * 0.45,
                              depth=length, matrix=mat)
    mesh = created.add(bpy.data.meshes.new(f"{name}_mesh"))
    bm.to_mesh(mesh)
    bm.free()
    return mesh


def add_bodies(d: dict[str, np.ndarray], stem: str, parent, created: _Created, armature: bool = False
               ) -> bpy.types.Collection:
    """One mesh object per body, named like the body, animated with its world transform per frame."""
    coll = _collection(f"{stem} model", created, parent)
    names = [str(n) for n in d["body_names"]]
    T = np.einsum("ij,fbjk->fbik", AXES4, d["transforms"])
    rate = float(d["rate"]) or 1.0
    frames = readers.frames_of(d["times"], rate)
    for b, name in enumerate(names):
        ends = d["bone_end"][d["bone_body"] == b]
        obj = created.add(bpy.data.objects.new(name, _body_mesh(name, ends, float(d["body_radius"][b]), created)))
        obj.color = _side_color(name)
        obj["mocap3d_body"] = name
        obj.rotation_mode = "QUATERNION"
        coll.objects.link(obj)
        rot = T[:, b, :3, :3]
        ok = np.all(np.isfinite(rot), axis=(1, 2))
        q = np.full((len(rot), 4), np.nan)
        q[ok] = readers.continuous(readers.quaternions(rot[ok]))
        _animate(obj, frames, {"location": T[:, b, :3, 3], "rotation_quaternion": q}, created)
    if armature:
        add_armature(d, stem, coll, created)
    return coll


def add_armature(d: dict[str, np.ndarray], stem: str, coll, created: _Created) -> bpy.types.Object:
    """An armature with one bone per body (head at the joint, tail toward the child joints in the default pose),
    keyed so that each bone moves rigidly with its body (a plain action on the pose bones: retargeting and
    FBX/glTF exporters read it as is)."""
    names = [str(n) for n in d["body_names"]]
    parents = [str(n) for n in d["parent_names"]]
    rest = np.einsum("ij,bjk->bik", AXES4, d["rest_transforms"])
    arm = created.add(bpy.data.armatures.new(f"{stem}_armature"))
    obj = created.add(bpy.data.objects.new(f"{stem}_armature", arm))
    coll.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        bones = {}
        for b, name in enumerate(names):
            ends = d["bone_end"][d["bone_body"] == b]
            ends = ends[np.linalg.norm(ends, axis=1) > 1e-6]
            local = ends.mean(axis=0) if len(ends) else np.array([0.0, 0.1, 0.0])
            eb = arm.edit_bones.new(name)
            eb.head = Vector(rest[b, :3, 3].tolist())
            eb.tail = Vector((rest[b] @ np.append(local, 1.0))[:3].tolist())
            bones[name] = eb
        for name, p in zip(names, parents):
            if p in bones:
                bones[name].parent = bones[p]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    # bone b's pose in armature space is D_b B_b, D_b = W_b(t) inv(W_b(rest)) its body's motion, B_b its rest
    # matrix; Blender composes M_b = M_p inv(B_p) B_b basis_b, hence basis_b = inv(B_b) inv(D_p) D_b B_b.
    W = np.einsum("ij,fbjk->fbik", AXES4, d["transforms"])
    D = W @ np.linalg.inv(rest)[None]
    index = {n: i for i, n in enumerate(names)}
    frames = readers.frames_of(d["times"], float(d["rate"]) or 1.0)
    channels = {}
    for b, (name, p) in enumerate(zip(names, parents)):
        B = np.array(arm.bones[name].matrix_local)
        rel = D[:, b] if p not in index else np.linalg.inv(D[:, index[p]]) @ D[:, b]
        basis = np.linalg.inv(B)[None] @ rel @ B[None]
        ok = np.all(np.isfinite(basis[:, :3, :3]), axis=(1, 2))
        q = np.full((len(basis), 4), np.nan)
        q[ok] = readers.continuous(readers.quaternions(basis[ok, :3, :3]))
        pb = obj.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        channels[pb.path_from_id("location")] = basis[:, :3, 3]
        channels[pb.path_from_id("rotation_quaternion")] = q
    _animate(obj, frames, channels, created)
    return obj


def import_bodies(path: str | Path, imported: Imported | None = None, parent=None, armature: bool = False
                  ) -> Imported:
    """The model of one ``*_bodies.npz`` (see :func:`add_bodies`)."""
    imported = imported or Imported()
    d = readers.read_bodies(path)
    rate = float(d["rate"])
    _check_rate(rate, imported, Path(path).name)
    stem = Path(path).stem[:-len("_bodies")] if Path(path).stem.endswith("_bodies") else Path(path).stem
    with _transaction() as created:
        coll = add_bodies(d, stem, parent, created, armature)
    imported.collection = imported.collection or coll
    _timeline_from(imported, d["times"], rate)
    return imported


# --------------------------------------------------------------------------- cameras
def add_camera(spec: readers.CameraSpec, coll, created: _Created, video: Path | None = None,
               offset: float = 0.0) -> bpy.types.Object:
    """A Blender camera with the calibration's intrinsics and extrinsics (distortion aside), and its video.

    ``offset`` (frames, from synchronization): the video's frame ``n`` shows at Blender frame ``1 + n + offset``
    (rounded: Blender clips start on whole frames)."""
    cam = created.add(bpy.data.cameras.new(spec.name))
    lens = spec.lens()
    cam.sensor_fit = lens["sensor_fit"]
    cam.sensor_width, cam.sensor_height = lens["sensor_width"], lens["sensor_height"]
    cam.lens = lens["lens"]
    cam.shift_x, cam.shift_y = lens["shift_x"], lens["shift_y"]
    cam.clip_start, cam.clip_end = 0.05, 200.0
    cam.display_size = 0.3
    obj = created.add(bpy.data.objects.new(spec.name, cam))
    obj.matrix_world = Matrix(spec.blender_matrix().tolist())
    obj["image_width"], obj["image_height"] = int(spec.size[0]), int(spec.size[1])
    obj["mocap3d_camera"] = spec.name
    coll.objects.link(obj)
    if video is not None:
        clip = created.add(bpy.data.movieclips.load(str(video)))
        clip.frame_start = 1 + int(round(offset))
        cam.show_background_images = True
        bg = cam.background_images.new()
        bg.source = "MOVIE_CLIP"
        bg.clip = clip
        bg.alpha = 0.8
    return obj


def import_calibration(path: str | Path, videos: list[Path] | dict[str, Path] | None = None,
                       imported: Imported | None = None, parent=None) -> Imported:
    """Cameras of a ``Calib*.toml``; ``videos`` (a list to match by name, or camera -> file) as backgrounds."""
    imported = imported or Imported()
    cams = readers.read_calibration(path)
    matched = videos if isinstance(videos, dict) else readers.match_videos(cams, list(videos or []))
    if not matched:
        imported.messages.append(f"{Path(path).name}: no video found; cameras without background")
    for c in cams:
        if c.fisheye or np.any(np.abs(c.distortions) > 0):
            imported.messages.append("lens distortion is not represented by Blender cameras (the video background "
                                     "keeps it): expect offsets toward the image borders")
            break
    with _transaction() as created:
        coll = _collection("cameras", created, parent)
        for c in cams:
            add_camera(c, coll, created, matched.get(c.name))
    imported.collection = imported.collection or coll
    return imported


def use_camera(name: str, percent: int = 100) -> bpy.types.Object:
    """Make ``name`` the scene camera and the render size its image size (``percent`` of it)."""
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "CAMERA":
        cams = ", ".join(o.name for o in bpy.data.objects if o.type == "CAMERA") or "none"
        raise AddonError(f"no camera {name!r} in the scene (cameras: {cams})")
    scene = bpy.context.scene
    scene.camera = obj
    if "image_width" in obj:
        scene.render.resolution_x, scene.render.resolution_y = int(obj["image_width"]), int(obj["image_height"])
    scene.render.resolution_percentage = int(percent)
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    return obj


# --------------------------------------------------------------------------- helpers of the scene
def add_floor_and_axes(parent, created: _Created, size: float = 8.0) -> None:
    """A floor plane at OpenSim's y = 0 (Blender z = 0) and world axes (X red, Y green, Z blue; Blender's)."""
    coll = _collection("floor and axes", created, parent)
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=int(size), y_segments=int(size), size=size / 2)
    mesh = created.add(bpy.data.meshes.new("floor_mesh"))
    bm.to_mesh(mesh)
    bm.free()
    floor = created.add(bpy.data.objects.new("floor", mesh))
    floor.color = (0.55, 0.55, 0.55, 1.0)
    floor.display_type = "WIRE"
    floor.hide_render = True
    coll.objects.link(floor)
    axes = created.add(bpy.data.objects.new("world axes", None))
    axes.empty_display_type = "ARROWS"
    axes.empty_display_size = 0.5
    coll.objects.link(axes)


def import_trial(folder: str | Path, markers: bool = True, model: bool = True, armature: bool = False,
                 cameras: bool = True, videos: bool = True, floor: bool = True) -> Imported:
    """Everything of a trial folder in one collection named like the trial (see :func:`readers.find_trial_files`)."""
    files = readers.find_trial_files(folder)
    imported = Imported(messages=list(files.messages))
    # read and check everything first: a bad file stops before anything is created
    trcs = [readers.read_trc(p) for p in files.trc] if markers else []
    bodies = [(p, readers.read_bodies(p)) for p in files.bodies] if model else []
    cams, matched = [], {}
    if cameras and files.calibration is not None:
        cams = readers.read_calibration(files.calibration, files.up_axis)
        matched = readers.match_videos(cams, files.videos) if videos else {}
        if videos and not files.videos:
            imported.messages.append(f"{Path(folder).name}: no videos/ found; cameras without background")
        frac = {k: v for k, v in files.offsets.items() if matched.get(k) and abs(v - round(v)) > 0.05}
        if frac:
            imported.messages.append("videos start on whole frames: sub-frame sync offsets rounded (" + ", ".join(
                f"{k} {v:+.2f}" for k, v in frac.items()) + " frames)")
    elif cameras:
        imported.messages.append(f"{Path(folder).name}: no calibration/Calib*.toml; no cameras")
    if markers and not trcs and not bodies:
        raise AddonError(f"{folder}: nothing to import")
    with _transaction() as created:
        root = _collection(Path(folder).name, created)
        for trc in trcs:
            imported.messages += trc.messages
            add_markers(trc, root, created)
        for p, d in bodies:
            stem = p.stem[:-len("_bodies")]
            add_bodies(d, stem, root, created, armature)
        if cams:
            coll = _collection("cameras", created, root)
            for c in cams:
                add_camera(c, coll, created, matched.get(c.name), files.offsets.get(c.name, 0.0))
            if any(c.fisheye or np.any(np.abs(c.distortions) > 0) for c in cams):
                imported.messages.append("lens distortion is not represented by Blender cameras (the video "
                                         "background keeps it): expect offsets toward the image borders")
        if floor:
            add_floor_and_axes(root, created)
    imported.collection = root
    for trc in trcs:
        _timeline_from(imported, trc.times, trc.rate)
    for _, d in bodies:
        _check_rate(float(d["rate"]), imported, "body transforms")
        _timeline_from(imported, d["times"], float(d["rate"]))
    return imported
