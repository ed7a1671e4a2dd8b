"""Rollout: what changes a served flag between documents (ramps, the alarm guard, the watcher).

In: a client's snapshot and a wall clock (plus CloudWatch alarm states for the guard). Out:
snapshot overlays and ``RolloutEvent``s. May import ``_document``, ``_rules``, ``_snapshot``
and ``_fork``; the client imports it lazily, so a client without ramps or alarms never loads it.
"""
