"""The kit's database users, named once and free of CDK: the stacks grant ``rds-db:connect`` for
them and pass them to the functions (``DB_USER``), the database-users custom resource
(``lib/lambda/database_users``) creates them, and the integration tests look for them.

Both log in with IAM authentication tokens (``rds_iam``), never a password; the master user and its
secret are left to that custom resource and to rotation.
"""

from __future__ import annotations

CANARY = "dr_canary"  # the health check: INSERT and SELECT on the heartbeat table, nothing else
RESTORE_PROBE = "dr_restore_probe"  # the restore validation: SELECT on the heartbeat table of a copy
