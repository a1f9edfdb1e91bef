"""File formats: readers and writers, each with one-line errors naming file and line/key.

* Calibration TOML (Pose2Sim, AniPose, Caliscope, FreeMoCap):
  :func:`read_calibration`, :func:`write_calibration`.
* OpenPose JSON folders ``pose/<cam>_json/*.json``: :func:`read_openpose_folders`,
  :func:`read_openpose_camera`, :func:`write_openpose_folders`, :func:`write_openpose_camera`.
* OpenSim ``.trc`` markers (metres, Y up): :func:`read_trc`, :func:`write_trc`.
* OpenSim storage ``.mot``/``.sto``: :class:`Table`, :func:`read_mot`, :func:`write_mot`.
* C3D points (``ezc3d``/``c3d`` readable): :func:`read_c3d`, :func:`write_c3d`, :func:`c3d_info`.
* Importers into the OpenPose layout: AlphaPose, DeepLabCut (.h5/.csv), MMPose, MediaPipe
  (``*_to_keypoints`` and ``*_to_openpose``).
"""
from .c3d import c3d_info, read_c3d, write_c3d
from .calibration_toml import read_calibration, read_calibration_metadata, write_calibration
from .importers import (alphapose_to_keypoints, alphapose_to_openpose, dlc_to_keypoints, dlc_to_openpose,
                        mediapipe_array_to_keypoints, mediapipe_to_keypoints, mediapipe_to_openpose, mmpose_to_keypoints, mmpose_to_openpose)
from .mot import Table, read_mot, write_mot
from .openpose import (read_openpose_camera, read_openpose_folders, write_openpose_camera,
                       write_openpose_folders)
from .trc import read_trc, read_trc_header, write_trc

__all__ = ["Table", "alphapose_to_keypoints", "alphapose_to_openpose", "c3d_info", "dlc_to_keypoints",
           "dlc_to_openpose", "mediapipe_array_to_keypoints", "mediapipe_to_keypoints",
           "mediapipe_to_openpose", "mmpose_to_keypoints",
           "mmpose_to_openpose", "read_c3d", "read_calibration", "read_calibration_metadata", "read_mot",
           "read_openpose_camera", "read_openpose_folders", "read_trc", "read_trc_header", "write_c3d",
           "write_calibration", "write_mot", "write_openpose_camera", "write_openpose_folders", "write_trc"]
