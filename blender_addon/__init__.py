"""mocap3d for Blender: open a motion-capture trial (markers, scaled model, cameras with their videos).

Needs no OpenSim and no mocap3d inside Blender: the pipeline writes each body's
world transform per frame (``kinematics/*_bodies.npz``), the add-on reads it
with numpy. Operators: ``bpy.ops.mocap3d.import_trial(directory=...)``,
``import_trc``, ``import_bodies``, ``import_calibration``, ``use_camera``,
``export_model``, ``save_blend``, ``render_preview``. Axis convention: OpenSim
``(x, y, z)`` (Y up) is Blender ``(x, -z, y)`` (Z up).

Installs as a Blender 4.2+ extension (``blender_manifest.toml``) or as a legacy
add-on zip (``bl_info``). Importing this package outside Blender loads nothing
from ``bpy``; :func:`register` does.
"""
bl_info = {
    "name": "mocap3d",
    "author": "mocap3d",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "View3D > Sidebar > mocap3d; File > Import > mocap3d trial",
    "description": "Import mocap3d / Pose2Sim trials: markers, scaled model, cameras and videos",
    "category": "Import-Export",
}


def _menu_import(self, context):
    from .ui import MOCAP3D_OT_import_trial
    self.layout.operator(MOCAP3D_OT_import_trial.bl_idname, text="mocap3d trial (folder)")


def register() -> None:
    import bpy

    from .ui import CLASSES
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)


def unregister() -> None:
    import bpy

    from .ui import CLASSES
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
