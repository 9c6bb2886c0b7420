"""`pdv-alert serve` under cProfile, switched on and off by SIGUSR1 (for `push.py --profile`).

    PDV_BENCH_PROFILE_DIR=DIR python bench/profile_serve.py serve …

The first SIGUSR1 starts a profile of the server's main thread (its event loop: HTTP, the
hub, the dispatcher, the senders), the next one stops it and writes DIR/profile-<n>.prof,
and so on. cProfile sees only the main thread (aiosqlite runs the database calls on its own
thread) and slows profiled code down, so its output says where the loop's time goes, not how
fast the server is.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.cli import main  # noqa: E402

OUT = Path(os.environ.get("PDV_BENCH_PROFILE_DIR", "."))
state: dict[str, object] = {"profile": None, "count": 0}


def toggle(_signum: int, _frame: FrameType | None) -> None:
    profile = state["profile"]
    if isinstance(profile, cProfile.Profile):
        profile.disable()
        count = int(str(state["count"])) + 1
        state["count"] = count
        profile.dump_stats(OUT / f"profile-{count}.prof")
        state["profile"] = None
    else:
        profile = cProfile.Profile()
        state["profile"] = profile
        profile.enable()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, toggle)
    sys.exit(main(sys.argv[1:]))
