"""Monocular path: one camera's 2D keypoints to root-relative 3D (lifters) and to metric world 3D.

:mod:`mocap3d.monocular.lifters` turns one person's 2D keypoints in one camera
into root-relative 3D in camera axes (:class:`~mocap3d.monocular.lifters.Lifted3D`).
"""


def run_monocular(trial):
    """Stage entry point (``mocap3d monocular``): see :func:`mocap3d.monocular.stage.run_monocular`."""
    from .stage import run_monocular as _run
    return _run(trial)
