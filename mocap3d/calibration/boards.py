"""Calibration boards (checkerboard, ChArUco) and their corner detection.

A :class:`Board` knows the 3D coordinates of its corners in its own frame
(metres, board plane ``z = 0``, first inner corner at the origin, x along a
row of corners, y along a column). :func:`detect_board` finds the corners in
an image and returns them with the ids of the matching object points, so
that ``board.object_points[ids]`` pairs with the detected pixels.

Checkerboards: ``corners_nb = [h, w]`` inner corners (Pose2Sim's order).
Detection tries the classic detector on a reduced image refined by
``cornerSubPix`` at full resolution, then OpenCV's sector-based detector
(accuracy, then exhaustive mode), then the classic detector at full
resolution, each with both orientations ``(w, h)`` and ``(h, w)``. Checkerboard corner order is then made
canonical (:func:`canonical_checkerboard_order`): the board is seen as printed
(x to the right, y down, so its z axis points away from the camera, as for
OpenCV's ChArUco boards) and, when the board is not symmetric under a half
turn (``h + w`` odd), corner 0 is the one next to a dark outer square.

ChArUco boards: detected with ``cv2.aruco.CharucoDetector`` (OpenCV >= 4.7
API; the old free functions are gone in OpenCV 5); ids are unique.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError

ARUCO_DICTS = {name: getattr(cv2.aruco, name) for name in dir(cv2.aruco) if name.startswith("DICT_")}


@dataclass(frozen=True)
class Board:
    """A planar calibration board.

    Attributes:
        kind: ``"checkerboard"`` or ``"charuco"``.
        corners_nb: inner corners ``(h, w)`` (checkerboard); for ChArUco the
            number of SQUARES ``(rows, cols)``.
        square_size: square side, metres.
        marker_size: ArUco marker side, metres (ChArUco only).
        aruco_dict: OpenCV dictionary name, e.g. ``"DICT_4X4_50"`` (ChArUco only).
    """

    kind: str = "checkerboard"
    corners_nb: tuple[int, int] = (4, 7)
    square_size: float = 0.06
    marker_size: float = 0.045
    aruco_dict: str = "DICT_4X4_50"

    def __post_init__(self) -> None:
        if self.kind not in ("checkerboard", "charuco"):
            raise ConfigError(f"board type must be 'checkerboard' or 'charuco', got {self.kind!r}")
        h, w = (int(v) for v in self.corners_nb)
        if min(h, w) < 2:
            raise ConfigError(f"board corners_nb must be at least [2, 2], got {list(self.corners_nb)}")
        object.__setattr__(self, "corners_nb", (h, w))
        if self.square_size <= 0:
            raise ConfigError(f"board square size must be positive (metres), got {self.square_size}")
        if self.kind == "charuco":
            if self.aruco_dict not in ARUCO_DICTS:
                raise ConfigError(f"unknown aruco dictionary {self.aruco_dict!r}; use e.g. 'DICT_4X4_50'")
            if not 0 < self.marker_size < self.square_size:
                raise ConfigError("ChArUco marker_size must be positive and smaller than square_size "
                                  f"(got {self.marker_size} and {self.square_size} m)")

    @property
    def grid(self) -> tuple[int, int]:
        """Inner-corner grid ``(rows, cols)`` of the object points."""
        h, w = self.corners_nb
        return (h, w) if self.kind == "checkerboard" else (h - 1, w - 1)

    @property
    def object_points(self) -> np.ndarray:
        """Corner coordinates (N, 3) in the board frame, metres; row-major over :attr:`grid`."""
        rows, cols = self.grid
        r, c = np.mgrid[0:rows, 0:cols]
        pts = np.zeros((rows * cols, 3))
        pts[:, 0] = c.ravel() * self.square_size
        pts[:, 1] = r.ravel() * self.square_size
        return pts

    def charuco_board(self) -> "cv2.aruco.CharucoBoard":
        """The OpenCV board (ChArUco only); its corner i is our object point i."""
        rows, cols = self.corners_nb
        dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICTS[self.aruco_dict])
        return cv2.aruco.CharucoBoard((cols, rows), self.square_size, self.marker_size, dictionary)

    @property
    def symmetric(self) -> bool:
        """True if a half turn of a checkerboard maps it onto itself (order ambiguous)."""
        return self.kind == "checkerboard" and sum(self.corners_nb) % 2 == 0


@dataclass
class Detection:
    """Corners found in one image: pixels (N, 2) and object point ids (N,)."""

    corners: np.ndarray
    ids: np.ndarray
    image_size: tuple[int, int]
    source: str = ""


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image if image.dtype == np.uint8 else cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


#: Longest side (px) of the reduced image searched first.
REDUCED_SIZE = 960.0
#: Smallest corner spacing (px, full resolution) for which the fast path's sub-pixel refinement is trusted.
MIN_FAST_SPACING_PX = 14.0


def _reduced_corners(gray: np.ndarray, pattern: tuple[int, int], fast_check: bool = True) -> np.ndarray | None:
    """Corners (N, 2) in full-resolution pixels found by the classic detector on a reduced image, or None.

    ``fast_check`` False: OpenCV's thorough search (seconds on a noisy image without a board).
    """
    scale = min(1.0, REDUCED_SIZE / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    ok, corners = cv2.findChessboardCorners(small, pattern, flags=flags | (cv2.CALIB_CB_FAST_CHECK if fast_check else 0))
    if not ok:
        return None
    return (corners.reshape(-1, 2).astype(float) + 0.5) / scale - 0.5   # pixel centres map to pixel centres


def _min_spacing(corners: np.ndarray, pattern: tuple[int, int]) -> float:
    """Smallest distance (px) between neighbouring corners of a (cols, rows) grid."""
    g = corners.reshape(pattern[1], pattern[0], 2)
    return float(min(np.linalg.norm(np.diff(g, axis=0), axis=-1).min(),
                     np.linalg.norm(np.diff(g, axis=1), axis=-1).min()))


def refine_corners(gray: np.ndarray, corners: np.ndarray, spacing: float) -> np.ndarray:
    """Sub-pixel corners (N, 2) by ``cv2.cornerSubPix``, window half-size 0.35 x the corner spacing (3-25 px)."""
    w = int(np.clip(0.35 * spacing, 3, 25))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    out = cv2.cornerSubPix(gray, corners.astype(np.float32).reshape(-1, 1, 2), (w, w), (-1, -1), crit)
    return out.reshape(-1, 2).astype(float)


def _roi(corners: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of corners with a half-board margin, clipped to the image."""
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    m = 0.5 * max(x1 - x0, y1 - y0)
    h, w = shape[:2]
    return int(max(0, x0 - m)), int(max(0, y0 - m)), int(min(w, x1 + m + 1)), int(min(h, y1 + m + 1))


def plausible_grid(corners: np.ndarray, pattern: tuple[int, int], gray: np.ndarray | None = None,
                   min_separation: float = 0.2, min_contrast: float = 0.25) -> bool:
    """True if detected corners (N, 2) of a (cols, rows) grid look like a real checkerboard.

    Rejects what OpenCV's detectors return for boards seen at grazing angles:
    corners closer than ``min_separation`` x the median neighbour spacing
    (merged or repeated corners) and, with ``gray`` given, corners that are not
    checker corners: around a true corner, the image sampled a third of the
    way to the neighbouring corners is dark-light-dark-light (both samples of
    one diagonal brighter than both of the other by ``min_contrast`` x that
    corner's own range, which must exceed a tenth of the board's contrast),
    and the bright diagonal alternates from corner to corner like a
    checkerboard.
    """
    rows, cols = pattern[1], pattern[0]
    g = corners.reshape(rows, cols, 2)
    spacing = np.median(np.concatenate([np.linalg.norm(np.diff(g, axis=1), axis=-1).ravel(),
                                        np.linalg.norm(np.diff(g, axis=0), axis=-1).ravel()]))
    d = np.linalg.norm(corners[:, None] - corners[None], axis=-1)
    d[np.diag_indices(len(corners))] = np.inf
    if not (np.isfinite(spacing) and spacing > 0 and d.min() >= min_separation * spacing):
        return False
    if gray is None:
        return True
    ex = np.gradient(g, axis=1)             # local grid vectors (central differences), (rows, cols, 2)
    ey = np.gradient(g, axis=0)
    h, w = gray.shape[:2]
    q = []
    for a, b in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
        p = g + (a * ex + b * ey) / 3
        x = np.clip(np.round(p[..., 0]).astype(int), 0, w - 1)
        y = np.clip(np.round(p[..., 1]).astype(int), 0, h - 1)
        q.append(gray[y, x].astype(float))
    # an X corner: both diagonal samples brighter than both others (or darker); an L corner or an edge is not.
    # Gaps are relative to each corner's own range (shading across the board), which must not be flat.
    Q = np.stack(q)
    local = np.ptp(Q, axis=0)
    contrast = np.ptp(Q)
    if contrast <= 0 or np.any(local < 0.1 * contrast):
        return False
    gap_pos = (np.minimum(q[0], q[1]) - np.maximum(q[2], q[3])) / local
    gap_neg = (np.minimum(q[2], q[3]) - np.maximum(q[0], q[1])) / local
    even = np.add.outer(np.arange(rows), np.arange(cols)) % 2 == 0   # the colours alternate like a checkerboard
    a = np.where(even, gap_pos, gap_neg)
    b = np.where(even, gap_neg, gap_pos)
    return bool(np.all(a > min_contrast) or np.all(b > min_contrast))


def _sector_based(gray: np.ndarray, pattern: tuple[int, int], flags: int) -> np.ndarray | None:
    """``cv2.findChessboardCornersSB`` corners (N, 2) or None. It draws from OpenCV's global random
    generator: seeded here so that a detection does not depend on the images seen before."""
    cv2.setRNGSeed(0)
    ok, corners = cv2.findChessboardCornersSB(gray, pattern, flags=flags)
    return corners.reshape(-1, 2).astype(float) if ok else None


def _candidates(gray: np.ndarray, pattern: tuple[int, int], thorough: bool = False):
    """Corner sets (N, 2) found by each detector in turn (see :func:`_find_checkerboard`)."""
    if min(pattern) < 3:       # OpenCV's detectors need 3 x 3 inner corners or more
        return
    quick = _reduced_corners(gray, pattern)
    if quick is not None:
        spacing = _min_spacing(quick, pattern)
        if spacing >= MIN_FAST_SPACING_PX:
            yield refine_corners(gray, quick, spacing)
    base = cv2.CALIB_CB_ACCURACY | cv2.CALIB_CB_NORMALIZE_IMAGE
    if quick is not None:
        x0, y0, x1, y1 = _roi(quick, gray.shape)
        c = _sector_based(np.ascontiguousarray(gray[y0:y1, x0:x1]), pattern, base)
        if c is not None:
            yield c + [x0, y0]
    c = _reduced_corners(gray, pattern, fast_check=False) if thorough else None   # 2.5 s on a 1080p frame without a board
    if c is not None:
        yield refine_corners(gray, c, max(_min_spacing(c, pattern), 8.0))
    for flags in (base, base | cv2.CALIB_CB_EXHAUSTIVE):
        c = _sector_based(gray, pattern, flags)
        if c is not None:
            yield c
    if thorough and max(gray.shape) > REDUCED_SIZE:
        # OpenCV's thorough classic search at full resolution: finds boards at grazing angles in 0.01 s, but
        # takes 20-100 s on a noisy 1080p image without a board: for the few extrinsics images only
        ok, corners = cv2.findChessboardCorners(gray, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH
                                                | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if ok:
            c = corners.reshape(-1, 2).astype(float)
            yield refine_corners(gray, c, max(_min_spacing(c, pattern), 8.0))


def _find_checkerboard(gray: np.ndarray, pattern: tuple[int, int], thorough: bool = False) -> np.ndarray | None:
    """Corners (N, 2) for an OpenCV pattern size ``(cols, rows)``, or None.

    Order of attempts: (1) the classic detector on a reduced image (max side
    960 px), its corners refined at full resolution by ``cornerSubPix`` with a
    window matched to the square size, when squares are large enough
    (:data:`MIN_FAST_SPACING_PX`; ~0.01 s per 1080p image, 0.02-0.1 px on
    rendered boards); (2) the sector-based detector (accuracy mode) on that
    board's region; (3) with ``thorough``, the classic detector's thorough
    search on the reduced image; (4) the sector-based detector on the whole
    image, then in exhaustive mode; (5) with ``thorough``, the classic
    detector's thorough search at full resolution (boards at grazing angles;
    20-100 s on a noisy 1080p image without a board, so not for the many
    frames of intrinsics videos). The first
    result passing :func:`plausible_grid` is returned.
    """
    for corners in _candidates(gray, pattern, thorough):
        if plausible_grid(corners, pattern, gray):
            return corners
    return None


def _outer_square_darkness(gray: np.ndarray, grid: np.ndarray) -> float:
    """Intensity of the outer square at corner 0 minus that of its neighbour along x (< 0: dark)."""
    c0, cx, cy = grid[0, 0], grid[0, 1], grid[1, 0]
    ex, ey = cx - c0, cy - c0
    h, w = gray.shape
    vals = []
    for p in (c0 - 0.5 * ex - 0.5 * ey, c0 + 0.5 * ex - 0.5 * ey):   # two squares of opposite colour
        pts = p + np.array([[a * ex + b * ey] for a in (-0.15, 0, 0.15) for b in (-0.15, 0, 0.15)])[:, 0]
        x, y = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
        if x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h:
            return 0.0
        vals.append(float(gray[y, x].mean()))
    return vals[0] - vals[1]


def canonical_checkerboard_order(corners: np.ndarray, rows: int, cols: int,
                                 gray: np.ndarray | None = None) -> np.ndarray:
    """Reorder detected corners (rows*cols, 2) to the canonical board frame.

    Canonical: the board z axis (x cross y) points away from the camera, i.e.
    the image cross product of the row and column directions is positive
    (image y points down); and, with ``gray`` given and ``rows + cols`` odd, corner 0
    lies next to a dark outer square.
    """
    grid = corners.reshape(rows, cols, 2)
    ex = grid[:, -1].mean(0) - grid[:, 0].mean(0)
    ey = grid[-1].mean(0) - grid[0].mean(0)
    if ex[0] * ey[1] - ex[1] * ey[0] < 0:     # board seen from behind: mirror the rows
        grid = grid[:, ::-1]
    if gray is not None and (rows + cols) % 2 == 1 and _outer_square_darkness(gray, grid) > 0:
        grid = grid[::-1, ::-1]               # half turn about the board normal
    return grid.reshape(-1, 2)


def detect_checkerboard(image: np.ndarray, board: Board, source: str = "", thorough: bool = False) -> Detection | None:
    """Find all inner corners of a checkerboard in either orientation, or None (``thorough``: see
    :func:`_find_checkerboard`)."""
    gray = _gray(image)
    h, w = board.corners_nb
    size = (gray.shape[1], gray.shape[0])
    for rows, cols in ((h, w), (w, h)) if h != w else ((h, w),):
        corners = _find_checkerboard(gray, (cols, rows), thorough)
        if corners is None:
            continue
        corners = canonical_checkerboard_order(corners, rows, cols, gray)
        if (rows, cols) != (h, w):
            # Found as a (w, h) grid: its rows are our columns. A quarter turn
            # (not a transpose, which would mirror the board) maps it to ours.
            g = corners.reshape(rows, cols, 2)           # (w, h, 2)
            corners = np.rot90(g, k=1, axes=(0, 1)).reshape(-1, 2)  # (h, w, 2)
            corners = canonical_checkerboard_order(corners, h, w, gray)
        return Detection(corners, np.arange(h * w), size, source)
    return None


def detect_charuco(image: np.ndarray, board: Board, source: str = "", min_corners: int = 6) -> Detection | None:
    """ChArUco corners (and their ids) found in an image, or None if fewer than ``min_corners``."""
    gray = _gray(image)
    detector = cv2.aruco.CharucoDetector(board.charuco_board())
    corners, ids, _, _ = detector.detectBoard(gray)
    if ids is None or len(ids) < min_corners:
        return None
    return Detection(corners.reshape(-1, 2).astype(float), ids.ravel().astype(int),
                     (gray.shape[1], gray.shape[0]), source)


def detect_board(image: np.ndarray, board: Board, source: str = "", thorough: bool = False) -> Detection | None:
    """Detect ``board`` in a BGR or gray image; None if not found.

    ``thorough``: also OpenCV's slow exhaustive classic search at full
    resolution (checkerboards far away or at grazing angles: extrinsics images).
    """
    if board.kind == "charuco":
        return detect_charuco(image, board, source)
    return detect_checkerboard(image, board, source, thorough)


def grid_irregularity(detection: Detection, board: Board) -> float:
    """Largest second difference of the corner grid along rows and columns, in units of corner spacing.

    A correctly ordered detection of a plane seen through a lens changes
    slowly from corner to corner (values well below 0.3); a swapped or
    mis-ordered corner gives values near 1 or more. ChArUco detections with
    missing corners are checked on the complete rows/columns only.
    """
    rows, cols = board.grid
    grid = np.full((rows * cols, 2), np.nan)
    grid[detection.ids] = detection.corners
    grid = grid.reshape(rows, cols, 2)
    d_r = np.linalg.norm(np.diff(grid, axis=1), axis=-1)
    d_c = np.linalg.norm(np.diff(grid, axis=0), axis=-1)
    spacing = np.nanmedian(np.concatenate([d_r.ravel(), d_c.ravel()]))
    if not np.isfinite(spacing) or spacing <= 0:
        return np.inf
    sec = []
    if cols >= 3:
        sec.append(np.linalg.norm(grid[:, 2:] - 2 * grid[:, 1:-1] + grid[:, :-2], axis=-1).ravel())
    if rows >= 3:
        sec.append(np.linalg.norm(grid[2:] - 2 * grid[1:-1] + grid[:-2], axis=-1).ravel())
    if not sec:
        return 0.0
    vals = np.concatenate(sec)
    vals = vals[np.isfinite(vals)]
    return float(vals.max() / spacing) if vals.size else 0.0
