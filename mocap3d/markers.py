"""3D marker trajectories: the :class:`Markers3D` container (what a .trc holds)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Markers3D:
    """Marker positions over time.

    Attributes:
        data: (frames, markers, 3) positions in metres, Y up; NaN = missing.
        names: marker names (length = markers).
        rate: frame rate in Hz.
        start_time: time of the first frame in seconds.
        first_frame: frame number of the first frame (``.trc`` ``Frame#``,
            1-based by OpenSim convention).
    """

    data: np.ndarray
    names: list[str]
    rate: float
    start_time: float = 0.0
    first_frame: int = 1

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=float)
        self.names = list(self.names)
        if self.data.ndim != 3 or self.data.shape[2] != 3 or self.data.shape[1] != len(self.names):
            raise ValueError(f"Markers3D data must be (frames, {len(self.names)} markers, 3), got {self.data.shape}")
        if not self.rate > 0:
            raise ValueError(f"Markers3D rate must be positive, got {self.rate}")

    @property
    def n_frames(self) -> int:
        return self.data.shape[0]

    @property
    def times(self) -> np.ndarray:
        """Time of each frame in seconds (F,)."""
        return self.start_time + np.arange(self.n_frames) / self.rate

    @property
    def frame_numbers(self) -> np.ndarray:
        return self.first_frame + np.arange(self.n_frames)

    def __getitem__(self, name: str) -> np.ndarray:
        """Trajectory (F, 3) of one marker."""
        return self.data[:, self.names.index(name)]

    def select(self, names: list[str]) -> "Markers3D":
        """A copy with the given markers, in that order."""
        idx = [self.names.index(n) for n in names]
        return Markers3D(self.data[:, idx].copy(), list(names), self.rate, self.start_time, self.first_frame)

    def slice_frames(self, start: int, stop: int) -> "Markers3D":
        """Frames ``start:stop`` (indices into this array), times kept."""
        return Markers3D(self.data[start:stop].copy(), self.names, self.rate,
                         self.start_time + start / self.rate, self.first_frame + start)
