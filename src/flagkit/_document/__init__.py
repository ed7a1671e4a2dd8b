"""Documents: bytes and a content type in, validated ``FlagSpec`` tuples out.

``read.specs_from_bytes`` is the one door: it detects the format (AppConfig's stored form or
data view, Ion, a Powertools schema) and normalises it. May import ``_exceptions``, ``_types``
and ``_rules`` (to check rule text and patterns at load); never ``_snapshot`` or anything later.
pydantic is imported by ``appconfig.py`` alone, and only for a JSON document that ``fast.py``
cannot accept without it (a broken one, or an unusual shape).
"""
