# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m liftrig``: the same command line as the ``liftrig`` script."""

import sys

from .cli import main

sys.exit(main())
