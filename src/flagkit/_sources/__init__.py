"""Sources: where a document's bytes come from.

In: a place to ask (a dict, a file, AppConfigData, the AppConfig Agent). Out: ``Fetched``
(bytes, content type, version, when to ask again) or a ``SourceError``. May import
``_exceptions`` and ``_document`` (for the size limit); nothing downstream of it.
"""
