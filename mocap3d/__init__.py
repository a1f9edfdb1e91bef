"""mocap3d: multi-camera markerless motion capture and biomechanics with OpenSim."""
from .camera import Camera, CameraRig
from .errors import Mocap3dError
from .keypoints import Keypoints2D
from .markers import Markers3D
from .skeletons import Skeleton, get_skeleton

__version__ = "0.1.0"

__all__ = ["Camera", "CameraRig", "Keypoints2D", "Markers3D", "Mocap3dError", "Skeleton", "get_skeleton"]
