"""Rules: rule text in, a compiled ``test(user_id, attributes) -> bool`` closure out.

``parse`` makes a syntax tree, ``compile`` checks it and picks closures from ``closures``, and
``bucketing`` is the documented split hash. ``fused`` describes the leaves and joins an ``and``
of string checks (and a split) into one closure; ``fast`` builds the common shapes from their
text without the syntax tree, and leaves the rest, and every error, to ``parse`` and
``compile``. A document reader whose conditions are data (a Powertools schema) hands
``compile`` a built tree instead, which alone may use the operators of ``internal_ops``. May
import only ``_exceptions`` and mmh3/re2.
"""
