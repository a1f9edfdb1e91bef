"""The declarative rules that Config.toml values are checked against.

A key of the default Config.toml is checked by, in this order:

1. its entry in :data:`SCHEMA` (exact dotted path), else
2. the first matching glob of :data:`PATTERNS` (e.g. ``*likelihood_threshold*``), else
3. the type of its default value (bool, integer, number - an int is accepted
   where the default is a float -, string, list of numbers/strings).

Rules are built from a handful of specs: :func:`number`, :func:`integer`,
:func:`boolean`, :func:`text`, :func:`choice` (case-insensitive by default),
:func:`keyword` (exact words like 'auto'), :func:`list_of` and :func:`any_of`
(unions such as "a number > 0 or 'auto'"). To constrain a new key, add one line
to :data:`SCHEMA`; a rule must accept the key's default value (a test checks it).
Keys that are not in the default Config.toml are never validated here.
"""
from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Stage names accepted in [project] stages, in pipeline order, and CLI aliases.
STAGES = ("calibration", "pose", "synchronization", "association", "triangulation", "monocular",
          "filtering", "augmentation", "kinematics", "gait")
STAGE_ALIASES = {"sync": "synchronization", "associate": "association", "personAssociation": "association",
                 "triangulate": "triangulation", "filter": "filtering", "augment": "augmentation",
                 "markerAugmentation": "augmentation", "poseEstimation": "pose"}
FILTER_TYPES = ("butterworth", "butterworth_on_speed", "kalman", "one_euro", "gcv_spline",
                "acc_minimizing", "loess", "gaussian", "median")


class Spec:
    """A rule: ``ok(value)`` and a phrase ``text`` saying what is allowed."""

    text = "any value"

    def ok(self, value: Any) -> bool:  # pragma: no cover - overridden
        return True


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class _Number(Spec):
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    whole: bool = False

    def ok(self, v: Any) -> bool:
        if not _is_num(v) or (self.whole and not isinstance(v, int)):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)))

    @property
    def text(self) -> str:  # type: ignore[override]
        kind = "an integer" if self.whole else "a number"
        if self.lo is not None and self.hi is not None:
            return f"{kind} in {'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.hi is not None:
            return f"{kind} {'<' if self.hi_open else '<='} {_fmt(self.hi)}"
        return kind


@dataclass(frozen=True)
class _Boolean(Spec):
    text = "true or false"

    def ok(self, v: Any) -> bool:
        return isinstance(v, bool)


@dataclass(frozen=True)
class _Text(Spec):
    choices: tuple[str, ...] = ()
    ignore_case: bool = True

    def ok(self, v: Any) -> bool:
        if not isinstance(v, str):
            return False
        if not self.choices:
            return True
        if self.ignore_case:
            return v.lower() in {c.lower() for c in self.choices}
        return v in self.choices

    @property
    def text(self) -> str:  # type: ignore[override]
        if not self.choices:
            return "a string"
        return ("'" + self.choices[0] + "'" if len(self.choices) == 1
                else "one of " + ", ".join(f"'{c}'" for c in self.choices))


@dataclass(frozen=True)
class _List(Spec):
    item: Spec = Spec()
    length: int | None = None
    min_len: int = 0

    def ok(self, v: Any) -> bool:
        if not isinstance(v, list):
            return False
        if (self.length is not None and len(v) != self.length) or len(v) < self.min_len:
            return False
        return all(self.item.ok(x) for x in v)

    @property
    def text(self) -> str:  # type: ignore[override]
        if self.length is not None:
            head = f"a list of {self.length} items"
        else:
            head = "a non-empty list" if self.min_len == 1 else (
                f"a list of at least {self.min_len} items" if self.min_len else "a list")
        item = self.item.text
        return head if item == "any value" else f"{head}, each item {item}"


@dataclass(frozen=True)
class _AnyOf(Spec):
    options: tuple[Spec, ...] = ()

    def ok(self, v: Any) -> bool:
        return any(o.ok(v) for o in self.options)

    @property
    def text(self) -> str:  # type: ignore[override]
        return " or ".join(o.text for o in self.options)


@dataclass(frozen=True)
class _Where(Spec):
    spec: Spec = Spec()
    test: Callable[[Any], bool] = lambda v: True
    text: str = ""  # type: ignore[assignment]

    def ok(self, v: Any) -> bool:
        return self.spec.ok(v) and bool(self.test(v))


def number(ge: float | None = None, le: float | None = None, gt: float | None = None,
           lt: float | None = None) -> Spec:
    """A real number (int accepted) within optional bounds."""
    return _Number(lo=gt if gt is not None else ge, hi=lt if lt is not None else le,
                   lo_open=gt is not None, hi_open=lt is not None)


def integer(ge: int | None = None, le: int | None = None) -> Spec:
    """An integer (not a bool, not a float) within optional bounds."""
    return _Number(lo=ge, hi=le, whole=True)


def boolean() -> Spec:
    return _Boolean()


def text() -> Spec:
    return _Text()


def choice(*words: str, ignore_case: bool = True) -> Spec:
    """One of the given strings (case-insensitive unless told)."""
    return _Text(tuple(words), ignore_case)


def keyword(*words: str) -> Spec:
    """One of these exact lowercase words, e.g. ``keyword('auto')``."""
    return _Text(tuple(words), ignore_case=False)


def list_of(item: Spec = Spec(), length: int | None = None, min_len: int = 0) -> Spec:
    return _List(item, length, min_len)


def any_of(*specs: Spec) -> Spec:
    return _AnyOf(tuple(specs))


def where(spec: Spec, test: Callable[[Any], bool], description: str) -> Spec:
    """``spec`` plus an extra test on the value (e.g. start < end)."""
    return _Where(spec, test, description)


# ------------------------------------------------------------------- rules
_height = number(ge=0.3, le=3.0)
_mass = number(ge=1, le=500)
_frame_range = where(list_of(integer(ge=0), length=2), lambda v: v[0] < v[1],
                     "[start, end] with integers 0 <= start < end")
_workers = any_of(keyword("auto"), integer(ge=1), where(boolean(), lambda v: v is False, "false"))
_save_video = choice("to_video", "to_images", "none")
_output_format = choice("openpose", "mmpose", "deeplabcut", "none")
_stage = choice(*STAGES, *STAGE_ALIASES)
_even = where(integer(ge=2), lambda v: v % 2 == 0, "an even integer >= 2")


def _odd(low: int) -> Spec:
    return where(integer(ge=low), lambda v: v % 2 == 1, f"an odd integer >= {low}")


SCHEMA: dict[str, Spec] = {
    # [project]
    "project.project_dir": text(),
    "project.participant_height": any_of(keyword("auto"), _height, list_of(_height, min_len=1)),
    "project.participant_mass": any_of(_mass, list_of(_mass, min_len=1)),
    "project.frame_rate": any_of(keyword("auto"), number(gt=0, le=10000)),
    "project.frame_range": any_of(keyword("all", "auto"), _frame_range,
                                   where(list_of(), lambda v: not v, "[] (all frames)")),
    "project.exclude_from_batch": list_of(text()),
    "project.stages": where(list_of(_stage), lambda v: len({STAGE_ALIASES.get(s, s) for s in v}) == len(v),
                            f"a list of distinct stage names among {', '.join(STAGES)}"),
    # [batch]
    "batch.scheduler": text(),
    "batch.threads_per_worker": any_of(keyword("auto"), integer(ge=1)),
    "batch.retries": integer(ge=0),
    "batch.connect_timeout": number(gt=0),
    # [logging]
    "logging.level": choice("DEBUG", "INFO", "WARNING", "ERROR"),
    "logging.log_file": text(),
    # [pose]
    "pose.det_frequency": integer(ge=1),
    "pose.save_video": any_of(_save_video, list_of(_save_video)),
    "pose.output_format": any_of(_output_format, list_of(_output_format)),
    "pose.max_distance_px": number(gt=0),
    "pose.min_iou": number(ge=0, le=1),
    "pose.mode": any_of(choice("lightweight", "balanced", "performance"),
                        where(text(), lambda v: v.strip().startswith("{"), "a \"\"\"{dictionary}\"\"\" string"),
                        where(Spec(), lambda v: isinstance(v, dict), "an inline table {pose_model = ...}")),
    "pose.device": choice("auto", "cpu", "cuda"),
    "pose.backend": choice("auto", "onnxruntime"),
    "pose.import_from": choice("none", "alphapose", "deeplabcut", "mmpose"),
    "pose.tracking_mode": choice("sports2d", "none"),
    "pose.blazepose_runtime": choice("onnxruntime", "mediapipe"),
    "pose.blazepose_model": choice("lite", "full", "heavy"),
    "pose.blazepose_model_file": text(),
    "pose.max_unseen_frames": integer(ge=0),
    "pose.rotate": where(integer(), lambda v: v in (0, 90, 180, 270), "0, 90, 180 or 270"),
    "pose.max_image_side": integer(ge=0),
    # [synchronization]
    "synchronization.keypoints_to_consider": any_of(keyword("all"), list_of(text(), min_len=1)),
    "synchronization.approx_time_maxspeed": any_of(keyword("auto"), list_of(number(ge=0), min_len=1)),
    "synchronization.time_range_around_maxspeed": number(gt=0),
    "synchronization.synchronization_method": choice("auto", "calibration", "motion"),
    "synchronization.filter_cutoff": number(ge=0),
    "synchronization.sync_person": any_of(keyword("auto"), integer(ge=0)),
    "synchronization.fallback_if_worse": boolean(),
    # [calibration]
    "calibration.calibration_type": choice("convert", "calculate"),
    "calibration.convert.convert_from": choice("qualisys", "optitrack", "vicon", "opencap", "easymocap", "biocv",
                                               "anipose", "caliscope", "freemocap"),
    "calibration.intrinsics_error_threshold_px": number(gt=0),
    "calibration.extrinsics_error_threshold_mm": number(gt=0),
    "calibration.convert.qualisys.binning_factor": number(gt=0),
    "calibration.calculate.intrinsics.intrinsics_board_type": choice("checkerboard", "charuco"),
    "calibration.calculate.intrinsics.intrinsics_marker_size": number(gt=0),
    "calibration.calculate.extrinsics.world_up_axis": choice("Y", "Z"),
    "calibration.calculate.extrinsics.board.extrinsics_board_type": choice("checkerboard", "charuco"),
    "calibration.calculate.extrinsics.board.extrinsics_marker_size": number(gt=0),
    "calibration.calculate.intrinsics.extract_every_N_sec": number(gt=0),
    "calibration.calculate.extrinsics.extrinsics_method": choice("board", "scene", "keypoints"),
    "calibration.calculate.extrinsics.keypoints_max_offset_frames": number(ge=0),
    "calibration.calculate.extrinsics.board.board_position": choice("vertical", "horizontal"),
    "calibration.calculate.extrinsics.scene.object_coords_3d": list_of(list_of(number(), length=3), min_len=4),
    # [personAssociation]
    "personAssociation.multi_person.reconstruction_error_threshold": number(gt=0),
    "personAssociation.multi_person.min_affinity": number(ge=0, le=1),
    # [triangulation]
    "triangulation.min_cameras_for_triangulation": integer(ge=2),
    "triangulation.interp_if_gap_smaller_than": integer(ge=0),
    "triangulation.interpolation": choice("linear", "slinear", "quadratic", "cubic", "none"),
    "triangulation.sections_to_keep": choice("all", "largest", "first", "last"),
    "triangulation.min_chunk_size": integer(ge=1),
    "triangulation.fill_large_gaps_with": choice("last_value", "nan", "zeros"),
    "triangulation.max_distance_m": number(gt=0),
    "triangulation.match_by": choice("keypoints", "centroid"),
    "triangulation.acceleration_prior": number(ge=0),
    "triangulation.max_uncertainty_mm_per_px": number(ge=0),
    "triangulation.world_up_axis": choice("auto", "Y", "Z"),
    "triangulation.check_body_proportions": boolean(),
    # [filtering]
    "filtering.type": choice(*FILTER_TYPES),
    "filtering.outlier_window": _odd(3),
    "filtering.outlier_n_sigma": number(gt=0),
    "filtering.interp_if_gap_smaller_than": integer(ge=0),
    "filtering.interpolation": choice("linear", "cubic", "pchip"),
    "filtering.butterworth.order": _even,
    "filtering.butterworth_on_speed.order": _even,
    "filtering.kalman.trust_ratio": number(gt=0),
    "filtering.one_euro.beta": number(ge=0),
    "filtering.gcv_spline.cut_off_frequency": any_of(keyword("auto"), number(gt=0)),
    "filtering.gcv_spline.smoothing_factor": number(ge=0),
    "filtering.loess.nb_values_used": integer(ge=3),
    "filtering.gaussian.sigma_kernel": number(gt=0),
    "filtering.median.kernel_size": _odd(1),
    # [kinematics]
    "kinematics.ik_filter_type": choice(*FILTER_TYPES),
    "gait.mode": choice("auto", "walking", "running"),
    "gait.event_cut_off_frequency": number(ge=0),
    "kinematics.ik_solver": choice("auto", "fast", "opensim"),
    "kinematics.ik_accuracy": number(gt=0),
    "kinematics.constraint_weight": any_of(keyword("inf"), number(ge=0)),
    "kinematics.min_markers_per_frame": integer(ge=1),
    "kinematics.keypoint_lumbar_weight": number(ge=0),
    "kinematics.keypoint_mtp_weight": number(ge=0),
    "kinematics.head_flexion_weight": number(ge=0),
    "kinematics.keypoint_lumbar_range": list_of(number(), length=2),
    "kinematics.keypoint_lumbar_range_weight": number(ge=0),
    "kinematics.keypoint_placement_mm": number(ge=0),
    "kinematics.lstm_pelvis_weight": any_of(keyword("auto"), number(ge=0)),
    "kinematics.fastest_frames_to_remove_percent": number(ge=0, lt=100),
    "kinematics.scaling_time_range": any_of(where(list_of(), lambda v: not v, "[] (whole trial)"),
                                            where(list_of(number(ge=0), length=2), lambda v: v[0] < v[1],
                                                  "[start, end] in seconds with 0 <= start < end")),
    "kinematics.default_height": _height,
    "kinematics.large_hip_knee_angles": number(gt=0, le=180),
    "kinematics.trimmed_extrema_percent": number(ge=0, lt=100),
    # [monocular]
    "monocular.lifter": choice("auto", "blazepose", "motionbert", "none"),
    "monocular.motionbert_model": text(),
    "monocular.camera": text(),
    "monocular.field_of_view": number(gt=1, lt=179),
    "monocular.image_size": any_of(keyword("auto"), list_of(integer(ge=1), length=2)),
    "monocular.max_gap": number(ge=0),
    "monocular.reprojection_sigma_px": number(gt=0),
    "monocular.lifter_sigma_m": number(gt=0),
    "monocular.contact_sigma_m": number(gt=0),
    "monocular.subtalar_sigma_deg": number(gt=0),
    "monocular.smoothing_cutoff": number(gt=0),
    "monocular.overlay_frames": integer(ge=0),
    "monocular.fix_swaps": boolean(),
    "monocular.depth_hypotheses": boolean(),
}

PATTERNS: list[tuple[str, Spec]] = [
    ("*likelihood_threshold*", number(ge=0, le=1)),
    ("*reproj_error_threshold*", number(gt=0)),
    ("*cut_off_frequency", number(gt=0)),
    ("*.order", integer(ge=1)),
    ("*_order", integer(ge=1)),
    ("*parallel_workers*", _workers),
    ("*_corners_nb", list_of(integer(ge=2), length=2)),
    ("*_square_size", any_of(number(gt=0), list_of(number(gt=0), length=2))),
    ("*max_unseen_frames", number(ge=0)),
]


def infer_spec(default: Any) -> Spec:
    """The rule implied by a default value's type."""
    if isinstance(default, bool):
        return boolean()
    if isinstance(default, int):
        return integer()
    if isinstance(default, float):
        return number()
    if isinstance(default, str):
        return text()
    if isinstance(default, list):
        if default and all(_is_num(x) for x in default):
            return list_of(number())
        if default and all(isinstance(x, str) for x in default):
            return list_of(text())
        if default and all(isinstance(x, list) for x in default):
            return list_of(list_of())
        return list_of()
    return Spec()


def spec_for(path: str, default: Any) -> Spec:
    """The rule for a dotted key: SCHEMA, else PATTERNS, else the default's type."""
    if path in SCHEMA:
        return SCHEMA[path]
    for pattern, spec in PATTERNS:
        if fnmatch.fnmatchcase(path, pattern):
            return spec
    return infer_spec(default)


def check_value(path: str, value: Any, default: Any) -> str | None:
    """None when ``value`` is allowed for ``path``, else a phrase saying what is."""
    spec = spec_for(path, default)
    return None if spec.ok(value) else spec.text


def canonical_stage(name: str) -> str:
    """'triangulate' -> 'triangulation'; unknown names are returned unchanged."""
    return STAGE_ALIASES.get(name, name)


def schema_paths() -> Mapping[str, Spec]:
    return dict(SCHEMA)
