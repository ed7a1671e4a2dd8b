"""An AWS Lambda handler with flagkit, reading flags from the AppConfig Lambda extension.

Deploy it with the AWS AppConfig Agent Lambda extension layer added to the function (see
docs/lambda.md); the extension serves the deployed flags on localhost:2772. Settings come from
the function's environment: FLAGS_APPLICATION, FLAGS_ENVIRONMENT, FLAGS_PROFILE, and
AWS_APPCONFIG_EXTENSION_HTTP_PORT if the extension listens elsewhere.

Run it locally against a running agent (or flagkit.testing's fake one):

    AWS_APPCONFIG_EXTENSION_HTTP_PORT=2772 python examples/lambda_handler.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from flagkit import AgentSource, Flags
from flagkit.aws_lambda import current, with_flags

# Module level runs once per sandbox (the init phase). start=False: no background thread;
# the decorator refreshes at the start of an invocation when the flags are older than max_age.
# The backup in /tmp survives warm restarts of the runtime and serves if the extension is down.
flags = Flags(
    AgentSource(
        os.environ.get("FLAGS_APPLICATION", "shop"),
        os.environ.get("FLAGS_ENVIRONMENT", "prod"),
        os.environ.get("FLAGS_PROFILE", "flags"),
    ),
    start=False,
    backup_path=os.environ.get("FLAGS_BACKUP_PATH", "/tmp/flagkit-flags.backup"),  # noqa: S108
)


@with_flags(flags, max_age=15, budget=0.2)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    view = current()  # pinned: every read below sees the same flags version
    user = event.get("user_id")
    engine = "new" if view.enabled("new-pricing", user) else "classic"
    limit = view.get_int("checkout", "max_items", 10, user)
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "pricing": engine,
                "max_items": limit,
                "flags_version": view.version,
                "request_id": context.aws_request_id,
            }
        ),
    }


if __name__ == "__main__":
    import time
    import uuid

    class LocalContext:
        """The attributes of Lambda's context object that this handler uses."""

        function_name = "flagkit-example"
        aws_request_id = str(uuid.uuid4())
        _deadline = time.monotonic() + 3.0

        def get_remaining_time_in_millis(self) -> int:
            return max(0, int((self._deadline - time.monotonic()) * 1000))

    print(json.dumps(handler({"user_id": "user-42"}, LocalContext())))  # noqa: T201
    flags.close()
