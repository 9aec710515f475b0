"""Fault injection at botocore's HTTP layer: throttling, 5xx and lost responses.

Registered first on ``before-send``, it answers a request in moto's place (or, for a lost
response, lets moto carry the request out and then drops the answer), so botocore's own retry
logic, with the client's real Config, is what recovers. botocore calls every ``before-send``
handler and takes the first answer, so a faulted request is pointed at a host moto does not
serve: moto then leaves it alone instead of carrying it out unseen.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

_NOWHERE = "https://fault-injected.invalid/"
THROTTLE = "throttle"
UNAVAILABLE = "unavailable"
LOST = "lost"

_ERRORS = {
    THROTTLE: (400, "RequestLimitExceeded", "Request limit exceeded."),
    UNAVAILABLE: (503, "Unavailable", "The service is unavailable. Please try again shortly."),
}


class Faults:
    def __init__(self) -> None:
        self._planned: dict[str, deque[str]] = defaultdict(deque)
        self.injected: list[tuple[str, str]] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def inject(self, operation: str, *faults: str) -> None:
        """The next requests for ``operation`` meet these faults, one each, in order."""
        self._planned[operation].extend(faults)

    def register(self, session: Any) -> None:
        session.events.register_first("before-send.ec2", self)

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.attempts[operation] += 1
            fault = self._planned[operation].popleft() if self._planned[operation] else None
            if fault:
                self.injected.append((operation, fault))
        if fault is None:
            return None
        if fault == LOST:
            botocore_stubber(event_name, request)  # EC2 acted on it...
            url, request.url = request.url, _NOWHERE
            raise ReadTimeoutError(endpoint_url=url)  # ...but the answer never arrived
        request.url = _NOWHERE
        status, code, message = _ERRORS[fault]
        error = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        body = f"<Response><Errors>{error}</Errors><RequestID>fault</RequestID></Response>"
        return AWSResponse(request.url, status, {}, MockRawResponse(body))
