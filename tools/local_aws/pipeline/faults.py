"""Step 4: is a fault injected into this request? Today: never.

The FIS work decides here, from the experiments running on the emulator's clock: an action that
injects API errors answers the requests it targets (by service, operation, caller's role or
function) with the error it names -- e.g. HTTP 500 ``InternalError``, 503 ``ServiceUnavailable``
or 400 ``ThrottlingException`` -- for the experiment's duration; the percentage of requests it
targets is drawn per request. A database connection (``Request.connection``) can be refused the
same way while an action stops or fails over the cluster. Faults come after authorization, as on
AWS: a request that is refused is refused whatever is injected.
"""

from __future__ import annotations

from .request import Denial, Request


def decide(request: Request) -> Denial | None:
    """None: no fault is injected."""
    return None
