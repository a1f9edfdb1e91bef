"""Skeleton definitions against the detectors' published keypoint orders."""
import pytest

from mocap3d.errors import ConfigError
from mocap3d.skeletons import SKELETONS, get_skeleton, skeleton_from_tree


def test_sizes_match_detector_outputs():
    sizes = {"HALPE_26": 26, "COCO_17": 17, "COCO_133": 133, "BODY_25": 25, "BODY_25B": 25, "BLAZEPOSE": 33}
    for name, n in sizes.items():
        sk = SKELETONS[name]
        assert len(sk) == n
        assert len(set(sk.names)) == n, f"{name} has duplicate names"


def test_known_indices():
    # Published orders: HALPE/COCO body, OpenPose BODY_25, MediaPipe BlazePose.
    h = SKELETONS["HALPE_26"]
    assert (h.index("Nose"), h.index("LShoulder"), h.index("RAnkle"), h.index("Hip"), h.index("RHeel")) == (0, 5, 16, 19, 25)
    b = SKELETONS["BODY_25"]
    assert (b.index("Neck"), b.index("CHip"), b.index("LAnkle"), b.index("RHeel")) == (1, 8, 14, 24)
    bp = SKELETONS["BLAZEPOSE"]
    assert (bp.index("LEye"), bp.index("REye"), bp.index("LKnee"), bp.index("RFootIndex")) == (2, 5, 25, 32)
    c = SKELETONS["COCO_133"]
    assert (c.index("LBigToe"), c.index("RHeel"), c.index("Jaw1"), c.index("LHandRoot"), c.index("RPinky4")) == (17, 22, 23, 91, 132)


def test_tree_and_derived_refer_to_known_names():
    for sk in SKELETONS.values():
        names = set(sk.all_names)
        for child, parent in sk.parents.items():
            assert child in names and parent in names, (sk.name, child, parent)
        for d, sources in sk.derived.items():
            assert all(s in sk.names for s in sources)


def test_swap_pairs_are_left_right():
    sk = SKELETONS["HALPE_26"]
    pairs = {(sk.names[a], sk.names[b]) for a, b in sk.swap_pairs()}
    assert ("LKnee", "RKnee") in pairs and len(pairs) == 11


def test_custom_tree_and_errors():
    tree = {"name": "Hip", "id": None, "children": [
        {"name": "RHip", "id": 1, "children": [{"name": "RKnee", "id": 3}]},
        {"name": "LHip", "id": 0, "children": [{"name": "LKnee", "id": 2}]}]}
    sk = skeleton_from_tree("CUSTOM", tree)
    assert sk.names == ("LHip", "RHip", "LKnee", "RKnee")
    assert sk.derived == {"Hip": ("RHip", "LHip")}
    assert get_skeleton("custom", tree).names == sk.names
    assert get_skeleton("Body_with_feet").name == "HALPE_26"
    with pytest.raises(ConfigError, match="unknown"):
        get_skeleton("NOPE")
    with pytest.raises(ConfigError, match="used by both"):
        skeleton_from_tree("X", {"name": "A", "id": 0, "children": [{"name": "B", "id": 0}]})
