"""The emulator's clock in moto: every model reads the time from ``tools.local_aws.clock``."""

from __future__ import annotations

import sys

from moto.core import utils as core_utils

from ..clock import CLOCK
from ._support import fix, install


@fix("D1")
def read_time_from_the_emulator_clock() -> None:
    """moto timestamps everything with the real time, so advancing the emulator's clock (``tick``)
    would leave recovery points, log events, alarm state changes and messages in the past.

    moto's ``utcnow`` now returns the emulator's time: in ``moto.core.utils`` and in every moto
    module that imported it by name (modules imported later take the replaced one).
    """
    original = core_utils.utcnow
    install(core_utils, "utcnow", CLOCK.now_naive)
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.") and getattr(module, "utcnow", None) is original:
            install(module, "utcnow", CLOCK.now_naive)
