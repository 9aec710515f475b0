"""One botocore data loader for the whole test process, and moto's action table computed once per class.

Every boto3 session builds its own loader, and every loader parses the service models it needs from
JSON again: the EC2 model alone is about 4 MB. The emulation makes many sessions (each cold container,
each test), so most of a test's set-up time went into parsing the same files. The models are read-only
data, so one loader, with its caches, can serve every session: what it returns is what each would parse.

moto looks up which actions a response class handles with ``inspect.getmembers`` on every request: a
tenth of the CPU of a sweep over 100 VPCs. A class's functions do not change while tests run (the
fidelity layer patches backends, not response classes), so the list is computed once per class.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


def share_one_loader() -> None:
    """Makes every botocore session created from now on use the same loader, and moto's action table
    computed once per response class (idempotent)."""
    if getattr(botocore.session.create_loader, "shared", False):
        return
    shared = functools.cache(botocore.loaders.create_loader)
    shared.shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = shared
    import moto.core.responses

    moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)
