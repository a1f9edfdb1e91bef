"""Synthetic multi-camera captures with exactly known truth (cameras, motion, offsets, identities)."""
from .rig import PRESETS, look_at, make_rig, sees_volume, walkway_volume

__all__ = ["PRESETS", "look_at", "make_rig", "sees_volume", "walkway_volume"]
