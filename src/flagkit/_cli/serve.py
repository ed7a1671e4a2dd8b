"""``flagkit serve``: a local AppConfig that serves a flags file while you edit it.

Each change is published as AWS would see it: CreateHostedConfigurationVersion, then
StartDeployment (``LocalAppConfigData.publish()``). A stored feature-flag document goes to an
``AWS.AppConfig.FeatureFlags`` profile, whose sessions get the retrieval-time format; any other
file to an ``AWS.Freeform`` profile, served as it is. The file is validated before each
publish, as AppConfig validates a feature-flag profile's hosted version: a document flagkit
would refuse is reported and not published, and the last good version keeps being served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from flagkit._exceptions import DocumentError, MissingExtraError, SourceError

__all__ = ["serve"]


def serve(
    path: str,
    *,
    application: str,
    environment: str,
    profile: str,
    port: int,
    host: str = "127.0.0.1",
    poll_interval: int = 1,
    watch_interval: float = 0.5,
    out: TextIO,
    stop: threading.Event | None = None,
    on_ready: Callable[[Any], None] | None = None,
) -> int:
    """Serve ``path`` until Ctrl-C (or ``stop`` is set); returns the exit status.

    ``on_ready(server)`` is called once the first version is published (tests use it).
    """
    try:  # publishing goes through boto3's appconfig client
        from botocore.exceptions import ClientError
    except ImportError as exc:
        raise MissingExtraError("aws", "boto3") from exc

    from flagkit._snapshot import snapshot_from_bytes
    from flagkit._sources.base import FileSource
    from flagkit.testing import LocalAppConfigData

    from .report import describe_error

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    source = FileSource(path)
    stop = stop or threading.Event()
    published = 0

    def publish_if_changed(server: LocalAppConfigData) -> bool:
        nonlocal published
        try:
            fetched = source.fetch()
        except SourceError as exc:
            say(f"flagkit serve: {exc}; {_still(published)}")
            return False
        if fetched.body is None:
            return False
        try:
            snapshot_from_bytes(fetched.body, content_type=fetched.content_type)
        except DocumentError as exc:
            say(describe_error(exc, path))
            say(f"flagkit serve: not published; {_still(published)}")
            return False
        try:
            published = server.publish(
                application,
                environment,
                profile,
                fetched.body,
                content_type=fetched.content_type,
                version_label=fetched.version,
            )
        except ClientError as exc:  # the control plane refused it (BadRequestException, ...)
            say(f"flagkit serve: AppConfig refused it: {exc}")
            say(f"flagkit serve: not published; {_still(published)}")
            return False
        say(f"published version {published} ({fetched.version}) from {path}")
        return True

    if not Path(path).exists():
        say(f"flagkit serve: no such file {path!r}")
        return 2
    try:
        server = LocalAppConfigData(poll_interval=poll_interval, host=host, port=port)
    except OSError as exc:  # port in use, an address this machine does not have, a bad name
        say(f"flagkit serve: cannot listen on {host}:{port}: {exc.strerror or exc}")
        return 2
    with server:
        if not publish_if_changed(server):  # nothing is served until a document is accepted
            return 1
        _banner(say, server.endpoint_url, (application, environment, profile))
        say(f"watching {path} every {watch_interval} s; Ctrl-C to stop")
        if on_ready is not None:
            on_ready(server)
        try:
            while not stop.wait(watch_interval):
                publish_if_changed(server)
        except KeyboardInterrupt:
            say("stopped")
    return 0


def _banner(say: Callable[[str], None], url: str, names: tuple[str, str, str]) -> None:
    application, environment, profile = names
    say(f"serving {application}/{environment}/{profile} at {url}")
    say("(AppConfig's control plane and AppConfigData on one port; publishing is")
    say(" CreateHostedConfigurationVersion + StartDeployment, with an instant strategy)")
    say(
        "connect with: flagkit.AppConfigSource("
        f"{application!r}, {environment!r}, {profile!r}, "
        f"endpoint_url={url!r}, region_name='us-east-1')"
    )
    say("(any AWS credentials will do, e.g. AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x)")


def _still(published: int) -> str:
    """What is served after a refusal: the last good version, or nothing before the first."""
    if published:
        return "still serving the last good version"
    return "nothing is served until the file is valid"
