"""Person association against synthetic captures with known identities."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mocap3d.association import AssociationOptions, associate_arrays
from mocap3d.errors import ConfigError
from mocap3d.synthetic.capture import make_capture

F = 240


def identity_accuracy(slots, identities, present):
    """Fraction of present detections whose output identity maps (by majority) to their true person."""
    mapping = {}
    for t in np.unique(slots[slots >= 0]):
        mapping[t] = np.bincount(identities[slots == t]).argmax()
    pred = np.full(slots.shape, -1)
    for t, true_id in mapping.items():
        pred[slots == t] = true_id
    return (pred[present] == identities[present]).mean(), mapping


def crossing_capture(seed=0, **kw):
    cap = make_capture(4, "walking", n_frames=F, rate=60, noise_px=1.5, missing=0.05, swaps=0.02,
                       second_person=True, seed=seed, **kw)
    a, b = cap.persons[0].data, cap.persons[1].data
    assert np.linalg.norm(a[:, 19] - b[:, 19], axis=-1).min() < 0.5  # the paths do cross
    return cap


@pytest.mark.parametrize("seed", [0, 1])
def test_multi_person_identities_through_a_crossing(seed):
    cap = crossing_capture(seed)
    kp = cap.keypoints2d
    out, rep = associate_arrays(cap.rig, kp.data, kp.keypoints, kp.rate, AssociationOptions(multi_person=True))
    present = (np.nan_to_num(kp.data[..., 2]) >= 0.3).sum(-1) >= 3
    acc, mapping = identity_accuracy(rep["slots"], cap.identities, present)
    assert rep["persons"] == 2 and sorted(mapping.values()) == [0, 1]
    assert acc >= 0.99
    # output person i holds exactly the detections of one true person
    for t, true_id in mapping.items():
        c, f, p = np.nonzero(rep["slots"] == t)
        assert np.array_equal(out[c, f, t], kp.data[c, f, p], equal_nan=True)


def test_detector_3d_keypoints_follow_their_detection_to_the_output_person():
    from mocap3d.association import associate
    from mocap3d.keypoints import Keypoints2D
    cap = crossing_capture(0)
    kp = cap.keypoints2d
    d3 = np.repeat(kp.data[..., 2:3], 4, axis=-1) * np.arange(1, 5)     # any values tied to each detection
    d3[..., 0] += np.arange(kp.data.shape[2])[None, None, :, None]        # ... and to its input slot
    kp3 = Keypoints2D(kp.data, kp.cameras, kp.keypoints, kp.frames, kp.rate, kp.offsets, d3)
    out, rep = associate(kp3, cap.rig, AssociationOptions(multi_person=True))
    c, f, p = np.nonzero(rep["slots"] >= 0)
    new = rep["slots"][c, f, p]
    np.testing.assert_array_equal(out.data3d[c, f, new], d3[c, f, p])
    np.testing.assert_array_equal(out.data[c, f, new], kp.data[c, f, p])


def test_single_person_keeps_the_person_of_interest_with_bystanders():
    cap = make_capture(4, "walking", n_frames=F, rate=60, noise_px=1.0, missing=0.05, second_person=True, seed=2)
    kp = cap.keypoints2d
    data = kp.data.copy()
    ids = cap.identities
    data[2:][ids[2:] == 1] = np.nan            # the bystander is visible in cameras 1-2 only
    data[3, 60:130][ids[3, 60:130] == 0] = np.nan  # the person of interest leaves camera 4's view
    out, rep = associate_arrays(cap.rig, data, kp.keypoints, kp.rate, AssociationOptions(multi_person=False))
    assert out.shape[2] == 1 and rep["persons"] == 1
    slots = rep["slots"]
    present = (np.nan_to_num(data[..., 2]) >= 0.3).sum(-1) >= 3
    assert (ids[slots == 0] == 0).all()  # never a bystander
    kept = (slots == 0) & present & (ids == 0)
    assert kept.sum() >= 0.99 * (present & (ids == 0)).sum()


def test_options_validation():
    with pytest.raises(ConfigError):
        AssociationOptions.from_config({"personAssociation": {"multi_person": {"min_affinity": 1.5}}})
    o = AssociationOptions.from_config({"project": {"multi_person": True},
                                        "triangulation": {"max_distance_m": 0.5, "max_unseen_frames": 7}})
    assert o.multi_person and o.max_distance_m == 0.5 and o.max_unseen_frames == 7


def test_run_association_and_multi_person_triangulation(tmp_path):
    from mocap3d.io.trc import read_trc
    from mocap3d.project import discover
    from mocap3d.synthetic.writer import write_capture
    from mocap3d.association import run_association
    from mocap3d.triangulation import run_triangulation
    cap = make_capture(4, "walking", n_frames=150, rate=60, noise_px=1.0, second_person=True, seed=4)
    write_capture(cap, tmp_path / "t")
    trial = discover(tmp_path / "t", config={"project": {"multi_person": True}})[0]
    assert trial.config["project"]["multi_person"] is True
    rep = run_association(trial)
    assert rep["persons"] == 2
    saved = json.loads((tmp_path / "t" / "pose-associated" / "association_report.json").read_text())
    assert saved["detections_assigned"] == saved["detections"]
    tri = run_triangulation(trial)
    assert tri["input"].endswith("pose-associated") and len(tri["persons"]) == 2
    trcs = sorted((tmp_path / "t" / "pose-3d").glob("*.trc"))
    assert [p.name[:4] for p in trcs] == ["t_P0", "t_P1"]
    for path in trcs:
        m = read_trc(path)
        errs = []
        for truth in cap.persons:
            T = truth.data[m.frame_numbers][:, [truth.names.index(n) for n in m.names]]
            errs.append(np.median(np.linalg.norm(m.data - T, axis=-1)) * 1000)
        assert min(errs) < 8.0  # each output person is one true person
