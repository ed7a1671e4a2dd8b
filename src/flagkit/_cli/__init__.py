"""The ``flagkit`` command: validate, explain, eval, schema, serve, demo.

In: argv. Out: text on stdout/stderr and an exit code. The top of the tree: it may import any
flagkit module, public or private, and nothing imports it except ``flagkit.__main__``.
"""
