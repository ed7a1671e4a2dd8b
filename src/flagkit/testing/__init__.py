"""Fakes for testing code that uses flagkit, without AWS.

``LocalAppConfigData`` is a local AWS AppConfig on 127.0.0.1 (control plane and AppConfigData)
that real boto3 talks to; its ``publish()`` is CreateHostedConfigurationVersion +
StartDeployment, and sessions read the retrieval-time format, as on AWS.
"""

from flagkit.testing._appconfigdata import LocalAppConfigData
from flagkit.testing._appconfigdata_service import RecordedCall, RecordedSession

__all__ = [
    "LocalAppConfigData",
    "RecordedCall",
    "RecordedSession",
]
from flagkit.testing._agent import AgentRequest, LocalAppConfigAgent
from flagkit.testing._alarms import StaticAlarms
from flagkit.testing._overrides import FlagBuilder, FlagData, FlagDataSource, override

__all__ += ["FlagBuilder", "FlagData", "FlagDataSource", "override"]
__all__ += ["AgentRequest", "LocalAppConfigAgent"]
__all__ += ["StaticAlarms"]
