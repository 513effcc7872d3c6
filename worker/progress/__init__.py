"""Members' progress: record a log, read a member's progress."""
