"""What a self-hoster registers in Wix's Dev Center (`wix-app/`): checked against the code, and shown."""
