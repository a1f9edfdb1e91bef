"""Write ``tflite_reference.npz``: TFLite's own outputs for mediapipe's pose models on one image.

Run ONCE by a developer (not by the tests: it needs TensorFlow or its LiteRT runtime, which mocap3d never
requires), in an environment with tensorflow (or ai-edge-litert), opencv and matplotlib::

    python tests/data/make_tflite_reference.py <pose_landmark_full.tflite> <pose_detection.tflite>
    python tests/data/make_tflite_reference.py --npm <pose_landmark_lite.tflite> <pose_landmark_heavy.tflite>

The second form writes ``tflite_reference_npm.npz`` for the lite and heavy landmark models of the npm
tarball ``@mediapipe/pose`` 0.5.1675469404 (keys prefixed ``lite_`` / ``heavy_`` instead of ``lm_``;
written with ai-edge-litert 2.3.0's interpreter, reference kernels).

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

try:
    import tensorflow as tf
    Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
except ImportError:  # the LiteRT runtime alone (pip install ai-edge-litert)
    from ai_edge_litert.interpreter import Interpreter, OpResolverType


def model_input(size: int) -> tuple[np.ndarray, str]:
    """(1, size, size, 3) float32 RGB in [0, 1] of grace_hopper.jpg, and the uint8 image's sha256."""
    img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    small = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return (small.astype(np.float32) / 255)[None], hashlib.sha256(small.tobytes()).hexdigest()


def run(model: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs by tensor name of the TFLite model (reference kernels, one thread)."""
    it = Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


def landmark_keys(prefix: str, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stored landmark outputs, keys prefixed by ``prefix``."""
    heat = lm["Identity_3"][0]
    return {f"{prefix}_Identity": lm["Identity"], f"{prefix}_Identity_1": lm["Identity_1"],
            f"{prefix}_Identity_4": lm["Identity_4"], f"{prefix}_heat_grid": heat[8::16, 8::16, :],
            f"{prefix}_heat_max": heat.max(axis=(0, 1))}


def main_npm(lite: str, heavy: str) -> None:
    x256, sha256 = model_input(256)
    out = Path(__file__).with_name("tflite_reference_npm.npz")
    np.savez_compressed(out, **landmark_keys("lite", run(lite, x256)), **landmark_keys("heavy", run(heavy, x256)),
                        sha_256=sha256)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def main(landmark: str, detector: str) -> None:
    x256, sha256 = model_input(256)
    x224, sha224 = model_input(224)
    lm, det = run(landmark, x256), run(detector, x224)
    scores = det["Identity_1"][0, :, 0]
    top = np.argsort(scores)[::-1][:5]
    out = Path(__file__).with_name("tflite_reference.npz")
    np.savez_compressed(out, **landmark_keys("lm", lm), det_top=top, det_scores=scores[top],
                        det_boxes=det["Identity"][0, top], det_scores_every50=scores[::50],
                        sha_256=sha256, sha_224=sha224)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    if sys.argv[1] == "--npm":
        main_npm(*sys.argv[2:4])
    else:
        main(*sys.argv[1:3])
