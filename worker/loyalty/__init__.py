"""Loyalty points: the points rules, and the points gate (points wait while the program is not ACTIVE)."""
