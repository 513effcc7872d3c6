"""What the programme is doing, counted as it happens (issue 15's analytics)."""
