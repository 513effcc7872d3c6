"""Jobs: the runner, the registry of job kinds, one module per kind."""
