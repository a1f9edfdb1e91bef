"""Our OpenSim model scaled uniformly to a height, with a skeleton's keypoint markers, the LSTM markers and
floor-contact points on the feet: the body the synthetic captures move and the one-camera fit starts from."""
from __future__ import annotations

from functools import lru_cache

from .markersets import attach_markers, marker_definitions
from .model_builder import build_model, foot_points, model_height
from .scaling import scale_model

MODEL_VARIANT = "full"


def ground_points() -> dict[str, tuple[str, tuple[float, float, float]]]:
    """Floor-contact points of the generic model's feet: name -> (body, location (m))."""
    fp = foot_points()
    floor_c, floor_t = float(fp["floor_calcn"]), float(fp["floor_toes"])
    mtp_x = float(fp["mtp"][0])
    right = {"heel": ("calcn", (float(fp["heel_calcn"][0]), floor_c, 0.0)),
             "mth1": ("calcn", (mtp_x, floor_c, -0.035)), "mth5": ("calcn", (mtp_x - 0.02, floor_c, 0.035)),
             "toe": ("toes", (float(fp["toe_tip_toes"][0]), floor_t, -0.01))}
    out = {}
    for side, z in (("r", 1.0), ("l", -1.0)):
        for k, (body, (x, y, zz)) in right.items():
            out[f"_ground_{k}_{side}"] = (f"{body}_{side}", (x, y, z * zz))
    return out


@lru_cache(maxsize=8)
def scaled_model(height: float, skeleton: str, variant: str = MODEL_VARIANT):
    """Our OpenSim model scaled uniformly to ``height`` (m), with the skeleton's and LSTM markers.

    Returns (model, marker names). Cached per process.
    """
    model = build_model(variant)
    defs = marker_definitions(skeleton) | marker_definitions("LSTM") | ground_points()
    attach_markers(model, defs)
    f = height / model_height()
    bodies = model.getBodySet()
    scale_model(model, {bodies.get(i).getName(): f for i in range(bodies.getSize())})
    return model, tuple(defs)
