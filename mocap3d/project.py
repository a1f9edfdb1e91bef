"""Trial and session folders (the layout of DESIGN.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Trial:
    """One trial folder and its merged configuration.

    Attributes:
        path: the trial folder (holds videos/, pose/, pose-3d/, ...).
        session: the session folder (equal to ``path`` for a single trial).
        config: merged configuration (defaults < session < participant < trial
            < overrides), a nested dict keyed like Pose2Sim's Config.toml.
    """

    path: Path
    session: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def calibration_dir(self) -> Path:
        """``calibration/`` of the trial if present, else of the session."""
        own = self.path / "calibration"
        return own if own.is_dir() else self.session / "calibration"

    @property
    def videos_dir(self) -> Path:
        return self.path / "videos"

    @property
    def pose_dir(self) -> Path:
        return self.path / "pose"

    @property
    def pose_sync_dir(self) -> Path:
        return self.path / "pose-sync"

    @property
    def pose_associated_dir(self) -> Path:
        return self.path / "pose-associated"

    @property
    def pose3d_dir(self) -> Path:
        return self.path / "pose-3d"

    @property
    def kinematics_dir(self) -> Path:
        return self.path / "kinematics"

    def latest_pose_dir(self) -> Path:
        """The most processed 2D folder: pose-associated/, else pose-sync/, else pose/."""
        for d in (self.pose_associated_dir, self.pose_sync_dir, self.pose_dir):
            if d.is_dir() and any(d.iterdir()):
                return d
        return self.pose_dir
