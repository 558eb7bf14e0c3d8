# SPDX-License-Identifier: GPL-3.0-or-later
"""Progress reporting that the terminal and Blender share.

Long functions take ``progress: ProgressFn | None`` and call ``progress(stage, done, total)``
as they go (``total`` is None when unknown). ``done`` counts frames, except for stages named
``"area: step"`` (``"retarget: planting the feet"``), whose ``done`` counts the area's steps:
the terminal shows one bar per area. A callback may raise :class:`liftrig.errors.Cancelled`
to stop the work; outputs are written atomically, so a cancelled run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Optional

ProgressFn = Callable[[str, int, Optional[int]], None]


def report(progress: ProgressFn | None, stage: str, done: int, total: int | None) -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(stage, done, total)


@contextlib.contextmanager
def terminal_progress(enabled: bool = True):
    """Yield a :data:`ProgressFn` that draws one tqdm bar per stage on stderr."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        area, _, step = stage.partition(": ")
        bar = bars.get(area)
        if bar is None:
            for other in bars.values():  # a new stage closes the previous ones
                other.close()
            bar = bars[area] = tqdm(total=total, desc=stage, unit="step" if step else "frame",
                                    file=sys.stderr, dynamic_ncols=True, leave=True)
        elif step:
            bar.set_description_str(stage, refresh=False)
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()
