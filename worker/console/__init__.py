"""The merchant console's domain: who may open it (worker/console/sessions.py) and what its Home page
reads (worker/console/checklist.py). The routes are in worker/web/console/."""
