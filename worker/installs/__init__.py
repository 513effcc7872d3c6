"""Install and removal of the app on a Wix site: the instance registry's events, the embedded script, the
purge of a removed site's data."""
