"""Operators (``bpy.ops.mocap3d.*``, also for scripts) and the sidebar panel (View3D > Sidebar > mocap3d)."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from . import export, scene
from .readers import AddonError


def _finish(op: bpy.types.Operator, context, result: scene.Imported | None = None, done: str = "") -> set[str]:
    messages = result.messages if result else []
    context.scene["mocap3d_messages"] = list(messages)
    for m in messages:
        op.report({"WARNING"}, m)
    if done:
        op.report({"INFO"}, done)
    return {"FINISHED"}


def _run(op: bpy.types.Operator, context, fn) -> set[str]:
    try:
        return fn()
    except AddonError as exc:
        context.scene["mocap3d_messages"] = [str(exc)]
        op.report({"ERROR"}, str(exc))
        return {"CANCELLED"}


class MOCAP3D_OT_import_trial(bpy.types.Operator):
    """Import a mocap3d / Pose2Sim trial folder: markers, model, cameras with videos, floor, timeline"""
    bl_idname = "mocap3d.import_trial"
    bl_label = "Import trial folder"
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(name="Trial folder", subtype="DIR_PATH")
    markers: BoolProperty(name="Markers", default=True)
    model: BoolProperty(name="Model", default=True)
    armature: BoolProperty(name="Armature", description="an armature following the bodies, for retargeting",
                           default=False)
    cameras: BoolProperty(name="Cameras", default=True)
    videos: BoolProperty(name="Videos as camera backgrounds", default=True)
    floor: BoolProperty(name="Floor and axes", default=True)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        def go():
            res = scene.import_trial(self.directory, self.markers, self.model, self.armature, self.cameras,
                                     self.videos, self.floor)
            return _finish(self, context, res, f"imported {Path(self.directory).name}")
        return _run(self, context, go)


class _FileImport(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}
    filepath: StringProperty(subtype="FILE_PATH")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


class MOCAP3D_OT_import_trc(_FileImport):
    """Import a .trc: one animated empty per marker, named like the marker"""
    bl_idname = "mocap3d.import_trc"
    bl_label = "Import markers (.trc)"
    filter_glob: StringProperty(default="*.trc", options={"HIDDEN"})

    def execute(self, context):
        return _run(self, context, lambda: _finish(self, context, scene.import_trc(self.filepath)))


class MOCAP3D_OT_import_bodies(_FileImport):
    """Import a model's body transforms (*_bodies.npz written by mocap3d kinematics)"""
    bl_idname = "mocap3d.import_bodies"
    bl_label = "Import model (*_bodies.npz)"
    filter_glob: StringProperty(default="*_bodies.npz", options={"HIDDEN"})
    armature: BoolProperty(name="Armature", default=False)

    def execute(self, context):
        return _run(self, context, lambda: _finish(self, context, scene.import_bodies(self.filepath,
                                                                                       armature=self.armature)))


class MOCAP3D_OT_import_calibration(_FileImport):
    """Import the cameras of a Calib*.toml (videos of a folder as backgrounds)"""
    bl_idname = "mocap3d.import_calibration"
    bl_label = "Import cameras (Calib*.toml)"
    filter_glob: StringProperty(default="*.toml", options={"HIDDEN"})
    videos_dir: StringProperty(name="Videos folder", subtype="DIR_PATH", default="")

    def execute(self, context):
        def go():
            from .readers import VIDEO_EXTENSIONS
            vids = sorted(p for p in Path(self.videos_dir).glob("*") if p.suffix.lower() in VIDEO_EXTENSIONS) \
                if self.videos_dir else []
            return _finish(self, context, scene.import_calibration(self.filepath, vids))
        return _run(self, context, go)


class MOCAP3D_OT_use_camera(bpy.types.Operator):
    """Look through a capture camera: scene camera and render size = that camera's image"""
    bl_idname = "mocap3d.use_camera"
    bl_label = "Use capture camera"
    name: StringProperty(name="Camera")
    percent: IntProperty(name="Resolution %", default=100, min=1, max=100)

    def execute(self, context):
        def go():
            scene.use_camera(self.name, self.percent)
            return {"FINISHED"}
        return _run(self, context, go)


class MOCAP3D_OT_export_model(bpy.types.Operator):
    """Export the animated model and markers to glTF (.glb/.gltf) or FBX (.fbx)"""
    bl_idname = "mocap3d.export_model"
    bl_label = "Export model (glTF / FBX)"
    filepath: StringProperty(subtype="FILE_PATH")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        return _run(self, context, lambda: (export.export_model(self.filepath), {"FINISHED"})[1])


class MOCAP3D_OT_save_blend(bpy.types.Operator):
    """Save a copy of the scene as a .blend"""
    bl_idname = "mocap3d.save_blend"
    bl_label = "Save .blend"
    filepath: StringProperty(subtype="FILE_PATH")

    def execute(self, context):
        return _run(self, context, lambda: (export.save_blend(self.filepath), {"FINISHED"})[1])


class MOCAP3D_OT_render_preview(bpy.types.Operator):
    """Render a preview (PNG, and MP4 or PNG frames) from a capture camera or a free camera, with Workbench"""
    bl_idname = "mocap3d.render_preview"
    bl_label = "Render preview"
    directory: StringProperty(name="Output folder", subtype="DIR_PATH")
    camera: StringProperty(name="Camera", description="capture camera name; empty = free camera", default="")
    percent: IntProperty(name="Resolution %", default=25, min=1, max=100)
    movie: BoolProperty(name="Movie", default=True)
    frame: IntProperty(name="Still frame", description="-1 = middle of the timeline", default=-1)
    frame_step: IntProperty(name="Movie frame step", default=1, min=1)

    def execute(self, context):
        def go():
            out = export.render_preview(self.directory or "//preview", self.camera or None, self.percent,
                                        self.movie, None if self.frame < 0 else self.frame, self.frame_step)
            self.report({"INFO"}, "wrote " + ", ".join(str(p) for p in out.values()))
            return {"FINISHED"}
        return _run(self, context, go)


class MOCAP3D_PT_panel(bpy.types.Panel):
    bl_label = "mocap3d"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "mocap3d"

    def draw(self, context):
        col = self.layout.column(align=True)
        col.label(text="Import")
        col.operator(MOCAP3D_OT_import_trial.bl_idname, icon="FILE_FOLDER")
        col.operator(MOCAP3D_OT_import_trc.bl_idname, icon="EMPTY_DATA")
        col.operator(MOCAP3D_OT_import_bodies.bl_idname, icon="ARMATURE_DATA")
        col.operator(MOCAP3D_OT_import_calibration.bl_idname, icon="CAMERA_DATA")
        col = self.layout.column(align=True)
        col.label(text="Cameras")
        for o in bpy.data.objects:
            if "mocap3d_camera" in o:
                col.operator(MOCAP3D_OT_use_camera.bl_idname, text=o.name, icon="VIEW_CAMERA").name = o.name
        col = self.layout.column(align=True)
        col.label(text="Export")
        col.operator(MOCAP3D_OT_export_model.bl_idname, icon="EXPORT")
        col.operator(MOCAP3D_OT_render_preview.bl_idname, icon="RENDER_ANIMATION")
        for m in context.scene.get("mocap3d_messages", [])[:6]:
            self.layout.label(text=m, icon="INFO")


CLASSES = (MOCAP3D_OT_import_trial, MOCAP3D_OT_import_trc, MOCAP3D_OT_import_bodies, MOCAP3D_OT_import_calibration,
           MOCAP3D_OT_use_camera, MOCAP3D_OT_export_model, MOCAP3D_OT_save_blend, MOCAP3D_OT_render_preview,
           MOCAP3D_PT_panel)
