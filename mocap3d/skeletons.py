"""Keypoint skeletons defined as data.

A :class:`Skeleton` lists keypoint names by detector output index (the
position of a keypoint in an OpenPose ``pose_keypoints_2d`` triplet list), the
tree used for drawing and segment lengths, and *derived* keypoints (``Hip``,
``Neck``) that some detectors do not output and that are computed as the mean
of others after triangulation.

Names follow Pose2Sim's so that its ``.trc`` files and marker sets match.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .errors import ConfigError


@dataclass(frozen=True)
class Skeleton:
    """A detector's keypoint layout.

    Attributes:
        name: skeleton name, e.g. ``"HALPE_26"``.
        names: keypoint names by detector output index (length = number of
            triplets the detector writes per person).
        parents: ``{child: parent}`` names of the kinematic tree (roots absent).
        derived: ``{name: (a, b, ...)}`` keypoints computed as the mean of
            others when the detector does not output them.
    """

    name: str
    names: tuple[str, ...]
    parents: Mapping[str, str] = field(default_factory=dict)
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Detector index of keypoint ``name`` (ValueError naming the skeleton)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"keypoint {name!r} is not in skeleton {self.name} "
                             f"(has: {', '.join(n for n in self.names if n)})") from None

    @property
    def all_names(self) -> tuple[str, ...]:
        """Output keypoint names then derived ones (the 3D marker list)."""
        return tuple(n for n in self.names if n) + tuple(d for d in self.derived if d not in self.names)

    def swap_pairs(self) -> list[tuple[int, int]]:
        """Index pairs of left/right keypoints (``LKnee``/``RKnee``...)."""
        pairs = []
        for i, n in enumerate(self.names):
            if n.startswith("L") and n[1:2].isupper():
                other = "R" + n[1:]
                if other in self.names:
                    pairs.append((i, self.names.index(other)))
        return pairs

    def segments(self) -> list[tuple[str, str]]:
        """(parent, child) name pairs of the tree."""
        return [(p, c) for c, p in self.parents.items()]


def _chain(*names: str) -> dict[str, str]:
    """Parents for a chain a -> b -> c ..."""
    return {c: p for p, c in zip(names[:-1], names[1:])}


def _body_tree(hip: str = "Hip", neck: str = "Neck", head: tuple[str, ...] = ("Head", "Nose"),
               feet: bool = True) -> dict[str, str]:
    tree: dict[str, str] = {}
    for s in "RL":
        tree |= _chain(hip, f"{s}Hip", f"{s}Knee", f"{s}Ankle")
        if feet:
            tree |= _chain(f"{s}Ankle", f"{s}BigToe", f"{s}SmallToe")
            tree[f"{s}Heel"] = f"{s}Ankle"
        tree |= _chain(neck, f"{s}Shoulder", f"{s}Elbow", f"{s}Wrist")
    tree |= _chain(hip, neck, *head)
    return tree


_COCO_17 = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
            "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle")

HALPE_26 = Skeleton(
    "HALPE_26",
    _COCO_17 + ("Head", "Neck", "Hip", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel"),
    _body_tree(),
)

COCO_17 = Skeleton(
    "COCO_17", _COCO_17, _body_tree(head=("Nose",), feet=False),
    derived={"Hip": ("LHip", "RHip"), "Neck": ("LShoulder", "RShoulder")},
)

_FACE_68 = (tuple(f"Jaw{i}" for i in range(1, 18)) + tuple(f"EyebrowR{i}" for i in range(1, 6))
            + tuple(f"EyebrowL{i}" for i in range(1, 6)) + tuple(f"Nose{i}" for i in range(1, 10))
            + tuple(f"REye{i}" for i in range(1, 7)) + tuple(f"LEye{i}" for i in range(1, 7))
            + tuple(f"Mouth{i}" for i in range(1, 21)))


def _hand(side: str) -> tuple[str, ...]:
    fingers = ("Thumb", "Index", "Middle", "Ring", "Pinky")
    return (f"{side}HandRoot",) + tuple(f"{side}{f}{i}" for f in fingers for i in range(1, 5))


def _hand_tree(side: str) -> dict[str, str]:
    tree = {f"{side}HandRoot": f"{side}Wrist"}
    for f in ("Thumb", "Index", "Middle", "Ring", "Pinky"):
        tree |= _chain(f"{side}HandRoot", *(f"{side}{f}{i}" for i in range(1, 5)))
    return tree


COCO_133 = Skeleton(
    "COCO_133",
    _COCO_17 + ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
    + _FACE_68 + _hand("L") + _hand("R"),
    _body_tree(head=("Nose",)) | _hand_tree("L") | _hand_tree("R"),
    derived={"Hip": ("LHip", "RHip"), "Neck": ("LShoulder", "RShoulder")},
)

BODY_25 = Skeleton(
    "BODY_25",
    ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "CHip",
     "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
     "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"),
    _body_tree(hip="CHip", head=("Nose",)),
)

BODY_25B = Skeleton(
    "BODY_25B",
    _COCO_17 + ("Neck", "Head", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"),
    _body_tree(hip="CHip"),
    derived={"CHip": ("LHip", "RHip")},
)

BLAZEPOSE = Skeleton(
    "BLAZEPOSE",
    ("Nose", "LEyeInner", "LEye", "LEyeOuter", "REyeInner", "REye", "REyeOuter", "LEar", "REar",
     "LMouth", "RMouth", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
     "LPinky", "RPinky", "LIndex", "RIndex", "LThumb", "RThumb", "LHip", "RHip", "LKnee", "RKnee",
     "LAnkle", "RAnkle", "LHeel", "RHeel", "LFootIndex", "RFootIndex"),
    {**{c: p for s in "RL" for c, p in (_chain("Hip", f"{s}Hip", f"{s}Knee", f"{s}Ankle", f"{s}Heel")
                                         | {f"{s}FootIndex": f"{s}Ankle"}
                                         | _chain("Neck", f"{s}Shoulder", f"{s}Elbow", f"{s}Wrist")
                                         | {f"{s}Pinky": f"{s}Wrist", f"{s}Index": f"{s}Wrist",
                                            f"{s}Thumb": f"{s}Wrist"}).items()},
     "Neck": "Hip", "Nose": "Neck"},
    derived={"Hip": ("LHip", "RHip"), "Neck": ("LShoulder", "RShoulder")},
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (HALPE_26, COCO_17, COCO_133, BODY_25, BODY_25B, BLAZEPOSE)}


def match_case(names: Sequence[str], known: Iterable[str] | None = None) -> dict[str, str]:
    """Names that differ from a known keypoint name only by case -> that name (``Lknee`` -> ``LKnee``).

    ``known`` defaults to every keypoint name of :data:`SKELETONS`; names known
    exactly, or matching several spellings, are left alone.
    """
    known = list(known) if known is not None else sorted({n for s in SKELETONS.values() for n in s.all_names})
    exact = set(known)
    by_lower: dict[str, set[str]] = {}
    for k in known:
        by_lower.setdefault(k.lower(), set()).add(k)
    out = {}
    for n in names:
        cands = by_lower.get(n.lower(), set())
        if n not in exact and len(cands) == 1:
            out[n] = next(iter(cands))
    return {n: k for n, k in out.items() if k not in names}


def skeleton_from_tree(name: str, tree: Mapping[str, Any] | list) -> Skeleton:
    """Build a skeleton from a Pose2Sim ``[[pose.CUSTOM]]`` tree.

    Each node is ``{"name": str, "id": int | None, "children": [...]}``; nodes
    without an id are derived later as the mean of their children.
    """
    by_id: dict[int, str] = {}
    parents: dict[str, str] = {}
    derived: dict[str, tuple[str, ...]] = {}

    def visit(node: Mapping[str, Any], parent: str | None) -> None:
        if "name" not in node:
            raise ConfigError(f"pose.CUSTOM: a node has no 'name' ({dict(node)!r}); give every node a name and an id")
        nm, kid, children = node["name"], node.get("id"), node.get("children", [])
        if isinstance(children, Mapping):
            children = [children]
        if kid is None or kid == "None":
            derived[nm] = tuple(c["name"] for c in children)
        elif not isinstance(kid, int) or kid < 0:
            raise ConfigError(f"pose.CUSTOM: node {nm!r} has id {kid!r}; ids must be integers >= 0")
        elif kid in by_id:
            raise ConfigError(f"pose.CUSTOM: id {kid} is used by both {by_id[kid]!r} and {nm!r}")
        else:
            by_id[kid] = nm
        if parent is not None:
            parents[nm] = parent
        for child in children:
            visit(child, nm)

    roots = tree if isinstance(tree, list) else [tree]
    for root in roots:
        visit(root, None)
    if not by_id:
        raise ConfigError("pose.CUSTOM: the skeleton has no keypoint with an id")
    names = tuple(by_id.get(i, "") for i in range(max(by_id) + 1))
    return Skeleton(name, names, parents, derived)


def get_skeleton(name: str, custom_tree: Mapping[str, Any] | list | None = None) -> Skeleton:
    """Skeleton by (case-insensitive) name; ``CUSTOM`` needs ``custom_tree``."""
    key = name.upper()
    if key == "CUSTOM":
        if custom_tree is None:
            raise ConfigError("pose.pose_model = 'CUSTOM' needs a [[pose.CUSTOM]] tree in Config.toml")
        return skeleton_from_tree("CUSTOM", custom_tree)
    aliases = {"BODY_WITH_FEET": "HALPE_26", "WHOLE_BODY": "COCO_133", "BODY": "COCO_17",
               "WHOLE_BODY_WRIST": "COCO_133", "MEDIAPIPE": "BLAZEPOSE"}
    key = aliases.get(key, key)
    if key not in SKELETONS:
        raise ConfigError(f"pose.pose_model = {name!r} is unknown; use one of "
                          f"{', '.join(SKELETONS)}, or CUSTOM with a [[pose.CUSTOM]] tree")
    return SKELETONS[key]
