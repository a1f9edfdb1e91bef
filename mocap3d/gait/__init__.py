"""Gait and running analysis: events, per-cycle parameters, normalized curves, exports and a report.

Quick start::

    from mocap3d.io.trc import read_trc
    from mocap3d.gait import analyze
    report = analyze(read_trc("pose-3d/walk_filt_butterworth.trc"))
    report["summary"]["cadence_steps_per_min"], report["cycles"][0]["stance_percent"]

Modules: :mod:`~mocap3d.gait.events` (foot strikes and toe-offs),
:mod:`~mocap3d.gait.cycles` (per-cycle table, definitions and sources),
:mod:`~mocap3d.gait.running`, :mod:`~mocap3d.gait.analysis` (:func:`analyze`),
:mod:`~mocap3d.gait.plots`, :mod:`~mocap3d.gait.stage` (:func:`run_gait`, the
stage shell; ``mocap3d gait`` on the command line).
"""
from .analysis import analyze, compare
from .events import (FootMarkers, contact_events, find_maxima, floor_plane, foot_markers, moving_average,
                     pelvis_centre, refine_peak, walking_direction, zeni_events)
from .stage import run_gait

__all__ = ["FootMarkers", "analyze", "compare", "contact_events", "find_maxima", "floor_plane", "foot_markers",
           "moving_average", "pelvis_centre", "refine_peak", "run_gait", "walking_direction", "zeni_events"]
