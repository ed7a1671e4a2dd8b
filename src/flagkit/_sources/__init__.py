"""Sources: where a document's bytes come from.

In: a place to ask (a dict, a file, AppConfigData, the AppConfig Agent). Out: ``Fetched``
(bytes, content type, version, when to ask again) or a ``SourceError``. May import
``_exceptions`` and ``_document`` (for the size limit); nothing downstream of it, with two
exceptions, both lazy (never at import): ``StaticSource`` builds a snapshot to refuse a bad
document at construction, and ``AgentSource`` (``agent_calls``, ``bind_snapshot``) builds
``_snapshot.Outcome`` objects and rebinds the flags the agent evaluates per call.
"""
