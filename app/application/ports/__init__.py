"""The ports: what the application needs from the outside, as protocols, by what they guard.

- ``storage``: the recent-window cache, the minute store and the spool in front of it;
- ``feeds``: where trades come from (a feed, an exchange's trade history) and who reads them;
- ``coordination``: what processes share (feed leases, heartbeats, control state, the tick relay).

Adapters implement these; unit tests implement them in memory. The values
that cross them are domain types.
"""
