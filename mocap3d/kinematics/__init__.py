"""Kinematics stage: OpenSim models, marker sets, automatic scaling and inverse kinematics.

Public API:
- :func:`build_model` (``"full"`` / ``"simple"``), :func:`model_path`, :func:`model_height`
- :func:`marker_positions` (forward kinematics, (F, N) coordinates -> (F, M, 3) metres)
- :func:`attach_markers`, :func:`marker_definitions`, :data:`LSTM_MARKERS`
- :func:`uniform_model` (generic model scaled to a height/mass), :func:`scale_model`
- :func:`solve_ik`, :func:`kinematics_from_markers`, :class:`KinematicsOptions`
- :func:`run_kinematics` (stage shell)
"""
import opensim as _osim

_osim.Logger.removeFileSink()          # no opensim.log in the user's working folder
_osim.Logger.setLevelString("warn")

from .forward import body_origins, marker_positions  # noqa: E402
from .ik import IKResult, solve_ik  # noqa: E402
from .markersets import (LSTM_MARKERS, MARKERSET_NAMES, attach_markers, default_weights,  # noqa: E402
                         marker_definitions)
from .model_builder import VARIANTS, build_model, coordinate_names, model_height  # noqa: E402
from .pipeline import KinematicsOptions, kinematics_from_markers, options_from_config  # noqa: E402
from .scaling import scale_model, uniform_model  # noqa: E402
from .setup_files import markerset_path, model_path  # noqa: E402
from .stage import process_trc, run_kinematics  # noqa: E402

__all__ = ["IKResult", "KinematicsOptions", "LSTM_MARKERS", "MARKERSET_NAMES", "VARIANTS", "attach_markers",
           "body_origins", "build_model", "coordinate_names", "default_weights", "kinematics_from_markers",
           "marker_definitions", "marker_positions", "markerset_path", "model_height", "model_path",
           "options_from_config", "process_trc", "run_kinematics", "scale_model", "solve_ik", "uniform_model"]
