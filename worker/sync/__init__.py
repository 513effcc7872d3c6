"""Points sync with an external loyalty system: the sync itself, the member directory, Standard Webhooks."""
