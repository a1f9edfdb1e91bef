"""mocap3d: multi-camera markerless motion capture and biomechanics with OpenSim.

Python API (same verbs as the ``mocap3d`` command; see :mod:`mocap3d.api`)::

    import mocap3d
    mocap3d.run("path/to/session")                       # all enabled stages, all trials
    mocap3d.triangulation("path/to/trial", frame_range=[10, 300])

The stage verbs share their names with the stage modules: ``mocap3d.triangulation``
is the module ``mocap3d/triangulation.py``, made callable as the verb (``from
mocap3d import triangulation`` gives that module too); while a stage module does
not exist, the name is the API verb alone.
"""
import sys as _sys
import types as _types

from . import api as _api
from .api import associate, augment, convert, demo, evaluate, run, sync, triangulate
from .camera import Camera, CameraRig
from .errors import Mocap3dError
from .keypoints import Keypoints2D
from .markers import Markers3D
from .skeletons import Skeleton, get_skeleton

filter = _api.filter  # noqa: A001 - `mocap3d filter`; left out of __all__ so `import *` keeps the builtin

__version__ = "0.1.0"

# The stage nouns (calibration, pose, ..., kinematics) are resolved on first access (see __getattr__)
# and left out of __all__ so that `from mocap3d import *` stays light.
__all__ = ["Camera", "CameraRig", "Keypoints2D", "Markers3D", "Mocap3dError", "Skeleton", "get_skeleton",
           "run", "sync", "associate", "triangulate", "augment", "demo", "evaluate", "convert"]

_STAGE_VERBS = frozenset({"calibration", "pose", "synchronization", "association", "triangulation",
                          "monocular", "filtering", "augmentation", "kinematics", "gait"})


class _StageModule(_types.ModuleType):
    """A stage module that can also be called as the API verb of the same name."""

    def __call__(self, *args, **kwargs):
        return getattr(_api, self.__name__.rsplit(".", 1)[-1])(*args, **kwargs)


class _Package(_types.ModuleType):
    """Keeps ``mocap3d.<stage>(...)`` callable after the import system binds the submodule."""

    def __setattr__(self, name, value):
        if name in _STAGE_VERBS and type(value) is _types.ModuleType:
            value.__class__ = _StageModule
        super().__setattr__(name, value)


def __getattr__(name):
    """``mocap3d.<stage>``: the stage module (callable as the API verb) if it imports, else the API verb."""
    if name in _STAGE_VERBS:
        import importlib
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError:
            return getattr(_api, name)
        setattr(_sys.modules[__name__], name, module)  # made callable by _Package.__setattr__
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _STAGE_VERBS)


_sys.modules[__name__].__class__ = _Package
