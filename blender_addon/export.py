"""Exports: the ``.blend``, glTF / FBX of the animated model, and a rendered preview (PNG + MP4 or PNG frames)."""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from .readers import AddonError
from .scene import use_camera

PREVIEW_CAMERA = "preview camera"


def save_blend(path: str | Path) -> Path:
    """Save the scene as a ``.blend`` (a copy: the open file keeps its name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, check_existing=False)
    return path


def _enable(module: str) -> None:
    import addon_utils
    if not addon_utils.check(module)[1]:
        addon_utils.enable(module, default_set=True)


def _model_objects() -> list[bpy.types.Object]:
    return [o for o in bpy.data.objects if "mocap3d_body" in o or "mocap3d_marker" in o or o.type == "ARMATURE"]


def _select(objs: list[bpy.types.Object]) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(o in objs)


def export_model(path: str | Path) -> Path:
    """The animated bodies, markers and armature as glTF (``.glb``/``.gltf``) or FBX (``.fbx``)."""
    path = Path(path)
    objs = _model_objects()
    if not objs:
        raise AddonError("nothing to export: import a trial (or a *_bodies.npz / .trc) first")
    path.parent.mkdir(parents=True, exist_ok=True)
    _select(objs)
    ext = path.suffix.lower()
    if ext in (".glb", ".gltf"):
        _enable("io_scene_gltf2")
        bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB" if ext == ".glb" else "GLTF_SEPARATE",
                                  use_selection=True, export_animations=True, export_force_sampling=True,
                                  export_frame_range=True)
    elif ext == ".fbx":
        _enable("io_scene_fbx")
        bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, bake_anim=True,
                                 bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                                 bake_anim_simplify_factor=0.0, object_types={"EMPTY", "MESH", "ARMATURE"})
    else:
        raise AddonError(f"{path.name}: export to .glb, .gltf or .fbx")
    return path


def _model_points() -> np.ndarray:
    """World positions (N, 3) of the bodies and markers over the timeline (every 5th frame)."""
    scene = bpy.context.scene
    objs = [o for o in bpy.data.objects if "mocap3d_body" in o or "mocap3d_marker" in o]
    pts = []
    current = scene.frame_current
    for f in range(scene.frame_start, scene.frame_end + 1, 5):
        scene.frame_set(f)
        pts += [tuple(o.matrix_world.translation) for o in objs]
    scene.frame_set(current)
    return np.array(pts) if pts else np.zeros((1, 3))


def free_camera(azimuth_deg: float = 35.0, elevation_deg: float = 12.0, lens: float = 35.0) -> bpy.types.Object:
    """A camera (named ``preview camera``) framing the whole motion from the side and a little above."""
    pts = _model_points()
    lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
    centre = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo)) / 2 + 0.3
    cam = bpy.data.cameras.get(PREVIEW_CAMERA) or bpy.data.cameras.new(PREVIEW_CAMERA)
    cam.lens, cam.sensor_width, cam.sensor_fit = lens, 36.0, "HORIZONTAL"
    obj = bpy.data.objects.get(PREVIEW_CAMERA)
    if obj is None:
        obj = bpy.data.objects.new(PREVIEW_CAMERA, cam)
        bpy.context.scene.collection.objects.link(obj)
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    fov = 2 * math.atan(18.0 / lens)
    dist = radius / math.sin(fov / 2) * 1.05
    direction = Vector((math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)))
    loc = Vector(centre.tolist()) + direction * dist
    rot = (-direction).to_track_quat("-Z", "Y").to_matrix().to_4x4()
    obj.matrix_world = Matrix.Translation(loc) @ rot
    cam.clip_end = dist * 4
    return obj


def _setup_render(percent: int) -> None:
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "OBJECT"
    scene.render.film_transparent = True
    scene.render.resolution_percentage = int(percent)
    scene.render.image_settings.color_mode = "RGBA"


def render_preview(out_dir: str | Path, camera: str | None = None, percent: int = 25, movie: bool = True,
                   frame: float | None = None, frame_step: int = 1, name: str = "preview") -> dict[str, Path]:
    """Render with Workbench (fast, headless) from a capture camera (``camera``) or a free camera (None).

    Writes ``<name>.png`` (``frame``, default the middle of the timeline, may be fractional: a video frame
    between two samples after synchronization; transparent background) and, with
    ``movie``, ``<name>.mp4`` (H.264) of the timeline every ``frame_step`` frames, or ``<name>_####.png``
    frames where this Blender has no FFmpeg.
    """
    scene = bpy.context.scene
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if camera:
        use_camera(camera, percent)
    else:
        scene.camera = free_camera()
        scene.render.resolution_x, scene.render.resolution_y = 1280, 720
    _setup_render(percent)
    out: dict[str, Path] = {}
    frame = float(frame if frame is not None else (scene.frame_start + scene.frame_end) // 2)
    scene.frame_set(int(math.floor(frame)), subframe=frame - math.floor(frame))
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(out_dir / f"{name}.png")
    bpy.ops.render.render(write_still=True)
    out["png"] = out_dir / f"{name}.png"
    if movie:
        step, start = scene.frame_step, scene.frame_start
        scene.frame_step = max(1, int(frame_step))
        try:
            if bpy.app.build_options.codec_ffmpeg:
                scene.render.image_settings.file_format = "FFMPEG"
                scene.render.ffmpeg.format, scene.render.ffmpeg.codec = "MPEG4", "H264"
                scene.render.film_transparent = False
                scene.render.filepath = str(out_dir / f"{name}.mp4")
                scene.render.use_file_extension = False
                out["movie"] = out_dir / f"{name}.mp4"
            else:
                scene.render.filepath = str(out_dir / f"{name}_####")
                scene.render.use_file_extension = True
                out["movie"] = out_dir / f"{name}_{start:04d}.png"
            bpy.ops.render.render(animation=True)
        finally:
            scene.frame_step = step
            scene.render.film_transparent = True
            scene.render.use_file_extension = True
    return out
