"""A member as a person: erasing their personal data (GDPR), across every store that holds it."""
