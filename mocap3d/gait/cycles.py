"""Per-cycle gait parameters, trial summary (mean ± SD) and left/right symmetry.

Definitions (Perry & Burnfield 2010, "Gait analysis", ch. 1-2; Whittle 2007,
"Gait analysis: an introduction", ch. 2; Novacheck 1998 for running):

- gait cycle (stride): from one initial contact (foot strike) of a foot to its
  next one; stride time its duration (s). Cadence = 120 / stride time
  (steps/min, two steps per stride).
- stride length: distance the foot travelled between those two contacts,
  horizontal, heel to heel (m), each heel position averaged over the
  :data:`PLANTED_WINDOW` after its contact (the heel is planted then);
  speed = stride length / stride time (m/s).
- step length: at this foot's contact, how far its heel is ahead of the
  other heel along the walking direction (m); step width: the horizontal
  distance across the walking direction between this heel at its contact and
  the other heel at its previous contact (m) (Whittle 2007).
- stance: contact to toe-off of this foot; swing: the rest (% of the cycle).
- double support: initial (this contact to the other foot's toe-off) plus
  terminal (the other foot's contact to this toe-off), % of the cycle; single
  support: this foot alone on the ground = the other foot's swing (%).
- running (Novacheck 1998): contact time = stance time (s); flight time: this
  toe-off to the other foot's contact (s; negative in walking: minus the
  terminal double support); duty factor = contact time / stride
  time (Minetti 1998); foot-strike pattern: see :mod:`mocap3d.gait.running`.
- symmetry index (Robinson, Herzog & Nigg 1987, J Manip Physiol Ther 10:172):
  SI = 100 (R - L) / (0.5 (R + L)) %, 0 = symmetric, on the sides' means (not
  given for angles, whose mean can be near zero).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .events import interp_rows

PLANTED_WINDOW = 0.15    # s after a contact over which the planted heel position is averaged


def planted(heel: np.ndarray, at: np.ndarray, rate: float) -> np.ndarray:
    """Heel positions (n, 3) m averaged over the :data:`PLANTED_WINDOW` after each contact ``at`` (n,) sub-frame
    indices: the heel is planted then, and one sample at the contact carries the keypoint noise and the
    event's timing error (the heel still moves forward when it lands)."""
    k = np.arange(max(1, round(PLANTED_WINDOW * rate)))
    rows = interp_rows(heel, (np.asarray(at, float)[:, None] + k[None, :]).ravel()).reshape(len(at), len(k), -1)
    return np.nanmean(rows, axis=1)


WALK_KEYS = ("stride_time_s", "cadence_steps_per_min", "stride_length_m", "step_length_m", "step_width_m",
             "speed_m_per_s", "stance_percent", "swing_percent", "single_support_percent",
             "double_support_percent")
RUN_KEYS = ("stride_time_s", "cadence_steps_per_min", "stride_length_m", "step_length_m", "step_width_m",
            "speed_m_per_s", "contact_time_s", "flight_time_s", "duty_factor", "stance_percent",
            "swing_percent", "foot_strike_angle_deg")
#: column labels of the per-cycle table (units in brackets)
LABELS = {"side": "side", "cycle": "cycle", "start_s": "start (s)", "end_s": "end (s)",
          "stride_time_s": "stride time (s)", "cadence_steps_per_min": "cadence (steps/min)",
          "stride_length_m": "stride length (m)", "step_length_m": "step length (m)",
          "step_width_m": "step width (m)", "speed_m_per_s": "speed (m/s)", "stance_percent": "stance (%)",
          "swing_percent": "swing (%)", "single_support_percent": "single support (%)",
          "double_support_percent": "double support (%)", "contact_time_s": "contact time (s)",
          "flight_time_s": "flight time (s)", "duty_factor": "duty factor",
          "foot_strike_angle_deg": "foot strike angle (deg)", "foot_strike_pattern": "foot strike"}


def _first(events: np.ndarray, lo: float, hi: float) -> float:
    """The first of ``events`` in (lo, hi), else NaN."""
    e = events[(events > lo) & (events < hi)]
    return float(e[0]) if len(e) else np.nan


def _last_before(events: np.ndarray, t: float) -> float:
    e = events[events < t]
    return float(e[-1]) if len(e) else np.nan


def side_cycles(side: str, fs: np.ndarray, to: np.ndarray, fs_o: np.ndarray, to_o: np.ndarray,
                heel: np.ndarray, heel_o: np.ndarray, direction: np.ndarray, rate: float,
                start_time: float = 0.0, strike_angles: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per complete cycle of one side (definitions in the module docstring).

    ``fs``/``to``: this foot's strikes and toe-offs, ``fs_o``/``to_o`` the other foot's (sub-frame
    indices); ``heel``/``heel_o`` (F, 3) m; ``direction`` (F, 3) unit walking direction; ``rate`` Hz;
    ``start_time`` the time (s) of frame 0. A cycle without its toe-off is left out.
    """
    rows = []
    for i, (a, b) in enumerate(zip(fs[:-1], fs[1:])):
        off = _first(to, a, b)
        if not np.isfinite(off):
            continue
        T = (b - a) / rate
        pa, pb = planted(heel, np.array([a, b]), rate)
        d = interp_rows(direction, np.array([a]))[0]
        d = d / max(float(np.linalg.norm(d)), 1e-9)
        side_dir = np.cross(d, [0.0, 1.0, 0.0])
        prev_o = _last_before(fs_o, a)
        step_len = step_w = np.nan
        if np.isfinite(prev_o):
            gap = pa - planted(heel_o, np.array([prev_o]), rate)[0]
            step_len, step_w = float(gap @ d), float(abs(gap @ side_dir))
        stride = float(np.linalg.norm((pb - pa)[[0, 2]]))
        other_off = _first(to_o, a, off)         # the other foot's toe-off in this stance (NaN when running)
        other_on = _first(fs_o, a, b)            # the other foot's contact within this cycle
        row = {"side": side, "cycle": i + 1, "start_s": start_time + a / rate, "end_s": start_time + b / rate,
               "stride_time_s": T, "cadence_steps_per_min": 120.0 / T, "stride_length_m": stride,
               "step_length_m": step_len, "step_width_m": step_w, "speed_m_per_s": stride / T,
               "stance_percent": 100 * (off - a) / (b - a), "swing_percent": 100 * (b - off) / (b - a),
               "toe_off_s": start_time + off / rate}
        ds = ((other_off - a) + (off - other_on)) / (b - a) if np.isfinite(other_off) and np.isfinite(other_on) else np.nan
        row["double_support_percent"] = 100 * ds if np.isfinite(ds) and ds >= 0 else np.nan
        last_on_o, last_off_o = _last_before(fs_o, off), _last_before(to_o, off)
        if np.isfinite(last_off_o) and (not np.isfinite(last_on_o) or last_off_o > last_on_o):
            later_on = _first(fs_o, off, b + (b - a))       # the other foot is in the air: flight until it lands
        else:
            later_on = last_on_o                            # it is on the ground: negative = terminal double support
        single = (other_on - other_off) / (b - a) if np.isfinite(other_off) and np.isfinite(other_on) else np.nan
        row["single_support_percent"] = 100 * single if np.isfinite(single) else np.nan
        row["contact_time_s"] = (off - a) / rate
        row["flight_time_s"] = (later_on - off) / rate if np.isfinite(later_on) else np.nan
        row["duty_factor"] = row["contact_time_s"] / T
        if strike_angles is not None and len(strike_angles) > i:
            row["foot_strike_angle_deg"] = float(strike_angles[i])
        rows.append(row)
    return rows


def stats(values: Sequence[float]) -> dict[str, Any]:
    """{'mean', 'sd' (n-1), 'n'} of the finite values (None when there are none / only one for SD)."""
    v = np.asarray([x for x in values if isinstance(x, (int, float)) and np.isfinite(x)], float)
    return {"mean": float(v.mean()) if v.size else None, "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            "n": int(v.size)}


def symmetry_index(right: float | None, left: float | None) -> float | None:
    """Robinson et al. (1987) symmetry index (%) of two side means; None when undefined."""
    if right is None or left is None or not np.isfinite(right + left) or abs(right + left) < 1e-12:
        return None
    return float(100 * (right - left) / (0.5 * (right + left)))


def summarize(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Trial summary: per side and both sides pooled, mean ± SD of each key, and symmetry indices."""
    out: dict[str, Any] = {}
    for key in keys:
        per = {s: stats([r.get(key, np.nan) for r in rows if r["side"] == s]) for s in ("right", "left")}
        both = stats([r.get(key, np.nan) for r in rows])
        si = None if key.endswith("_deg") else symmetry_index(per["right"]["mean"], per["left"]["mean"])
        out[key] = {"right": per["right"], "left": per["left"], "both": both, "symmetry_index_percent": si}
    return out
