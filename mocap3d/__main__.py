"""``python -m mocap3d``: the same as the ``mocap3d`` command."""
import sys

from .cli import main

sys.exit(main())
