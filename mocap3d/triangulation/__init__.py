"""Robust triangulation of 2D keypoints into 3D trajectories.

* :mod:`.core`: likelihood-weighted DLT with outlier-camera rejection.
* :mod:`.swaps`: per-camera, per-frame left/right swap correction.
* :mod:`.temporal`: uncertainty-weighted temporal refinement.
* :mod:`.gaps`: interpolation, trimming, filling.
* :mod:`.pipeline`: one person, all of the above.
* :mod:`.shell`: :func:`run_triangulation` (files, config, report).
"""
from .core import TriangulationResult, reject_outlier_cameras, triangulate_points
from .pipeline import PersonTriangulation, TriangulationOptions, triangulate_person, world_up_axis
from .swaps import lr_pairs, swap_groups


def run_triangulation(trial):
    """Stage shell: see :func:`mocap3d.triangulation.shell.run_triangulation`."""
    from .shell import run_triangulation as _run
    return _run(trial)


__all__ = ["PersonTriangulation", "TriangulationOptions", "TriangulationResult", "lr_pairs",
           "reject_outlier_cameras", "run_triangulation", "swap_groups", "triangulate_person",
           "triangulate_points", "world_up_axis"]
