"""Recovery drills against the deployed kit (``python -m tools.dr_drill --help``, ``make drill``).

A drill restores each protected store into a temporary copy, proves the copy holds the canary's
newest heartbeat, measures the restore time against the RTO and the data lost against the RPO,
writes a report (JSON and an HTML picture) and removes everything it created - also when it is
interrupted. ``failover`` rehearses an Aurora failover; ``status`` shows how old each resource's
newest recovery point is and how the last drill went.
"""
