"""A faithful local stand-in for the parts of Wix the service calls, for development and tests.

Run it with `python -m worker.wix.fake --port 9911`; sign and post webhooks with `python -m
worker.wix.fake send-webhook ...` (see `__main__`). One module per job:

- `state`: what the fake holds (instances, tokens, key pair); `traffic`: faults, rate limit, call log;
- `front`: the ASGI door (request ids, call log, injected faults); `errors`: Wix's error shapes;
- Wix's endpoints: `oauth` (§4.1), `loyalty` (§4.2), `loyalty_program` (seed 003), `loyalty_tiers`
  (§8: tiers, the account's tier), `coupons` (§4.3),
  `orders` (§3.1), `contacts` (§4.4), `inbox` (§4.5), `automations` (§5.2), with `query` for their
  filters and paging;
- `control`: the `/_fake/` switches and read-back; `payloads`: Wix-shaped orders, contacts and webhook
  payloads; `webhooks`: signing and posting them (and those the fake sends itself); `app`: the wiring.

Section numbers refer to `wix-facts.md`.
"""

from worker.wix.fake.app import create_app
from worker.wix.fake.state import FakeSettings, FakeWix

__all__ = ["FakeSettings", "FakeWix", "create_app"]
