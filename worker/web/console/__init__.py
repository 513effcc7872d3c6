"""The merchant console under `/dashboard/` (worker/console/ holds its domain): thin routes, Jinja2 pages
made lively with htmx, vendored and served by us."""
