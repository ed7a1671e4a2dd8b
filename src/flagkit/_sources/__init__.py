"""Sources: where a document's bytes come from.

In: a place to ask (a dict, a file, AppConfigData, the AppConfig Agent). Out: ``Fetched``
(bytes, content type, version, when to ask again) or a ``SourceError``. May import
``_exceptions`` and ``_document`` (for the size limit); nothing downstream of it, with one
exception: ``agent_calls`` builds ``_snapshot.Outcome`` objects for ``AgentSource``'s per-call
evaluation and ``agent.bind_snapshot`` rebinds compiled flags, both lazily (never at import).
"""
