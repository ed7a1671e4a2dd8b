"""Fixtures shared across test modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 (CloudWatch for alarms), one per test module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def cloudwatch(moto_endpoint: str) -> Iterator[Any]:
    """A real boto3 CloudWatch client on moto's server, with no alarms left from other tests."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    client = boto3.client(
        "cloudwatch",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        config=Config(retries={"total_max_attempts": 1}),
    )
    for page in client.get_paginator("describe_alarms").paginate():
        names = [a["AlarmName"] for a in page["MetricAlarms"]]
        if names:
            client.delete_alarms(AlarmNames=names)
    yield client
    client.close()
