"""Ember: an embodied agent stack. The layers live in ``ember.sims``, ``ember.robots``, ``ember.skills``,
``ember.planners`` and ``ember.launch`` (../shared/DESIGN.md)."""

__version__ = "0.1.0"
