"""Write ``tflite_reference.npz``: TFLite's own outputs for mediapipe's pose models on one image.

Run ONCE by a developer (not by the tests: it needs TensorFlow, which mocap3d never requires),
in an environment with tensorflow, opencv and matplotlib::

    python tests/data/make_tflite_reference.py <pose_landmark_full.tflite> <pose_detection.tflite>

The models are the ones in the mediapipe 0.10.14 wheel (``mediapipe/modules/...``). The numbers
come from ``tf.lite.Interpreter`` with TFLite's reference kernels (``OpResolverType.BUILTIN_REF``;
the default XNNPack kernels differ from them by float32 rounding, up to ~5e-3 on the z values).
Input: matplotlib's sample ``grace_hopper.jpg`` resized with cv2.INTER_AREA to the model's size,
BGR -> RGB, float32 / 255; the sha256 of the resized uint8 image is stored so that a test can tell
an input change from a model change. Stored (a few KB):

* ``lm_Identity`` (1, 195), ``lm_Identity_1`` (1, 1), ``lm_Identity_4`` (1, 117);
* ``lm_heat_grid`` = Identity_3[0, 8::16, 8::16, :] (4, 4, 39) and ``lm_heat_max`` its per-channel
  maximum (39,);
* ``det_top`` indices of the 5 best detector anchors, ``det_scores`` their Identity_1 (5,),
  ``det_boxes`` their Identity rows (5, 12), ``det_scores_every50`` Identity_1[0, ::50, 0];
* ``sha_256`` / ``sha_224`` input checksums.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import tensorflow as tf


def model_input(size: int) -> tuple[np.ndarray, str]:
    """(1, size, size, 3) float32 RGB in [0, 1] of grace_hopper.jpg, and the uint8 image's sha256."""
    img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    small = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return (small.astype(np.float32) / 255)[None], hashlib.sha256(small.tobytes()).hexdigest()


def run(model: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs by tensor name of the TFLite model (reference kernels, one thread)."""
    it = tf.lite.Interpreter(model_path=model, num_threads=1,
                             experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


def main(landmark: str, detector: str) -> None:
    x256, sha256 = model_input(256)
    x224, sha224 = model_input(224)
    lm, det = run(landmark, x256), run(detector, x224)
    heat = lm["Identity_3"][0]
    scores = det["Identity_1"][0, :, 0]
    top = np.argsort(scores)[::-1][:5]
    out = Path(__file__).with_name("tflite_reference.npz")
    np.savez_compressed(out, lm_Identity=lm["Identity"], lm_Identity_1=lm["Identity_1"],
                        lm_Identity_4=lm["Identity_4"], lm_heat_grid=heat[8::16, 8::16, :],
                        lm_heat_max=heat.max(axis=(0, 1)), det_top=top, det_scores=scores[top],
                        det_boxes=det["Identity"][0, top], det_scores_every50=scores[::50],
                        sha_256=sha256, sha_224=sha224)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
