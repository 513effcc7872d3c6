"""Everything that speaks Wix: token verification, webhook envelopes, event normalization."""
