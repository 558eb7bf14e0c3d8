# SPDX-License-Identifier: GPL-3.0-or-later
"""``blender -b -P path/to/liftrig/addon/batch_script.py -- VIDEO... -o OUT`` for setups where
the LiftRig extension is not installed: the same command as ``blender -b --command liftrig``."""

import importlib.util
import sys
from pathlib import Path


def import_liftrig():
    """``liftrig`` as installed, or else from the folder this script lies in."""
    try:
        import liftrig  # noqa: F401
        return
    except ImportError:
        pass
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "liftrig", root / "__init__.py", submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["liftrig"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    import_liftrig()
    from liftrig.addon.batch import run

    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    sys.exit(run(argv))
