"""Rewards: fulfilment, the follow-ups of a new reward, Wix automation triggers."""
