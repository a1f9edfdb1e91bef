"""Generate the files of ``OpenSim_Setup/``: models, marker sets, scaling and IK setups.

The scaling and IK setups are ordinary OpenSim ``ScaleTool`` /
``InverseKinematicsTool`` documents (usable in the OpenSim GUI); the
kinematics stage reads their marker weights (:func:`read_ik_weights`).
"""
from __future__ import annotations

from pathlib import Path

import opensim as osim

from .markersets import MARKERSET_NAMES, default_weights, marker_definitions, write_markerset
from .model_builder import VARIANTS, build_model, write_model


def _default_dir() -> Path:
    try:
        from ..resources import opensim_setup_dir
        return opensim_setup_dir()
    except Exception:                                 # source checkout without the folder yet
        return Path(__file__).resolve().parents[2] / "OpenSim_Setup"


def setup_dir() -> Path:
    """The folder holding the generated models and setup files."""
    return _default_dir()


def model_path(variant: str = "full", folder: str | Path | None = None) -> Path:
    """Path of the generated generic model ``mocap3d_<variant>.osim``."""
    return Path(folder or setup_dir()) / f"mocap3d_{variant}.osim"


def markerset_path(markerset: str, folder: str | Path | None = None) -> Path:
    """Path of ``markers_<SET>.xml``."""
    return Path(folder or setup_dir()) / f"markers_{markerset.upper()}.xml"


def ik_setup_path(markerset: str, folder: str | Path | None = None) -> Path:
    return Path(folder or setup_dir()) / f"ik_setup_{markerset.upper()}.xml"


def scaling_setup_path(markerset: str, folder: str | Path | None = None) -> Path:
    return Path(folder or setup_dir()) / f"scaling_setup_{markerset.upper()}.xml"


def _print(obj: osim.Object, path: Path) -> Path:
    from ..logs import atomic_path
    with atomic_path(path) as tmp:
        obj.printToXML(str(tmp))
    path.chmod(0o644)
    return path


def write_ik_setup(markerset: str, path: Path, accuracy: float = 1e-6) -> Path:
    """An InverseKinematicsTool setup with one IKMarkerTask (weight) per marker."""
    tool = osim.InverseKinematicsTool()
    tool.setName(f"mocap3d_ik_{markerset.upper()}")
    tool.set_model_file("mocap3d_full.osim")
    tool.set_marker_file("unassigned")
    tool.set_accuracy(accuracy)
    tool.set_constraint_weight(float("inf"))
    tasks = tool.upd_IKTaskSet()
    for name, w in default_weights(markerset).items():
        task = osim.IKMarkerTask()
        task.setName(name)
        task.setApply(w > 0)
        task.setWeight(w)
        tasks.cloneAndAppend(task)
    return _print(tool, path)


def write_scaling_setup(markerset: str, path: Path) -> Path:
    """A ScaleTool setup: one Measurement per body group with our landmark pairs (first marker of each point)."""
    from .scaling import segment_pairs
    names = list(marker_definitions(markerset))
    tool = osim.ScaleTool()
    tool.setName(f"mocap3d_scaling_{markerset.upper()}")
    tool.setSubjectMass(73.0)
    tool.getGenericModelMaker().setModelFileName("mocap3d_full.osim")
    tool.getGenericModelMaker().setMarkerSetFileName(markerset_path(markerset).name)
    scaler = tool.getModelScaler()
    scaler.setPreserveMassDist(True)
    order = osim.ArrayStr()
    order.append("measurements")
    scaler.setScalingOrder(order)
    mset = osim.MeasurementSet()
    for sp in segment_pairs(names):
        if not sp.pairs:
            continue
        meas = osim.Measurement()
        meas.setName(sp.name)
        for a, b in sp.pairs:
            meas.getMarkerPairSet().cloneAndAppend(osim.MarkerPair(a[0], b[0]))
        # pelvis: width (Z) from the hips, height and depth (X, Y) with the torso (scaling.pelvis_axes)
        bodies = [(b, ("Z",) if b == "pelvis" else ("X", "Y", "Z")) for b in sp.bodies]
        if sp.name == "torso":
            bodies.append(("pelvis", ("X", "Y")))
        for body, body_axes in bodies:
            bs = osim.BodyScale()
            bs.setName(body)
            axes = osim.ArrayStr()
            for ax in body_axes:
                axes.append(ax)
            bs.setAxisNames(axes)
            meas.getBodyScaleSet().cloneAndAppend(bs)
        mset.cloneAndAppend(meas)
    scaler.setMeasurementSet(mset)
    tool.getMarkerPlacer().setApply(False)
    return _print(tool, path)


def read_ik_weights(path: str | Path) -> dict[str, float]:
    """Marker name -> weight (0 when not applied) from an InverseKinematicsTool setup or IKTaskSet file."""
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    out = {}
    for task in root.iter("IKMarkerTask"):
        apply = (task.findtext("apply") or "true").strip().lower() == "true"
        out[task.get("name")] = float(task.findtext("weight") or 1.0) if apply else 0.0
    return out


def build_setup_folder(out: str | Path | None = None) -> list[Path]:
    """Write both model variants, every marker set and their IK/scaling setups to ``out``."""
    osim.Logger.setLevelString("warn")
    out = Path(out or setup_dir())
    written = []
    for variant in VARIANTS:
        written.append(write_model(build_model(variant), model_path(variant, out)))
    for name in MARKERSET_NAMES:
        written.append(write_markerset(name, markerset_path(name, out)))
        written.append(write_ik_setup(name, ik_setup_path(name, out)))
        written.append(write_scaling_setup(name, scaling_setup_path(name, out)))
    return written
