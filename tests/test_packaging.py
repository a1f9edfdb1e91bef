"""The wheel's package list names every package folder, and the data ships inside it."""
from pathlib import Path

import toml

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    listed = set(toml.load(ROOT / "pyproject.toml")["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mocap3d").rglob("__init__.py")}
    assert found - listed == set(), "add these packages to pyproject.toml [tool.setuptools] packages"
    assert {"mocap3d.OpenSim_Setup", "mocap3d.Demo", "mocap3d.blender_addon"} <= listed


def test_shipped_data_is_found():
    from mocap3d.resources import demo_dir, opensim_setup_dir
    assert (opensim_setup_dir() / "mocap3d_full.osim").is_file()
    assert (opensim_setup_dir() / "mocap3d_simple.osim").is_file()
    assert (demo_dir() / "Config.toml").is_file()
    assert (demo_dir() / "ground_truth").is_dir()
    from mocap3d.blender_scene import addon_dir
    assert (addon_dir() / "blender_manifest.toml").is_file() and (addon_dir() / "__init__.py").is_file()
