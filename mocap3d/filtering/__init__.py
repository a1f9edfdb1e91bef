"""Filtering of marker trajectories and joint-angle tables (NaN-aware, Pose2Sim-compatible keys).

Pure cores take an array (F, ...) and a rate in Hz:
:func:`butterworth`, :func:`butterworth_on_speed`, :func:`kalman`,
:func:`one_euro`, :func:`gcv_spline`, :func:`acc_minimizing`, :func:`loess`,
:func:`gaussian`, :func:`median`, and :func:`hampel` outlier rejection. The
stage shell :func:`run_filtering` filters ``pose-3d/*.trc``;
:func:`filter_mot_file` filters an IK ``.mot``.
"""
from .filters import butter_coefficients, butterworth, butterworth_on_speed, gaussian, loess, median, one_euro
from .runs import apply_on_runs, fill_gaps, hampel, runs
from .smoothers import acc_minimizing, cutoff_to_lambda, gcv_lambdas, gcv_spline, kalman, lambda_to_cutoff
from .plots import save_filter_plots
from .stage import (FILTERS, FilterSettings, filter_array, filter_markers, filter_mot_file, filter_table,
                    run_filtering, settings_from_config)

__all__ = [
    "FILTERS", "FilterSettings", "acc_minimizing", "apply_on_runs", "butter_coefficients", "butterworth",
    "butterworth_on_speed", "cutoff_to_lambda", "fill_gaps", "filter_array", "filter_markers",
    "filter_mot_file", "filter_table", "gaussian", "gcv_lambdas", "gcv_spline", "hampel", "kalman",
    "lambda_to_cutoff", "loess", "median", "one_euro", "run_filtering", "runs", "save_filter_plots",
    "settings_from_config",
]
