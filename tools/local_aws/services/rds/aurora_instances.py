"""Aurora DB instances take minutes to come and go, and a cluster without one answers no SQL.

On AWS, CreateDBInstance into a cluster answers at once with the instance ``creating``; it becomes
``available`` minutes later. DeleteDBInstance answers with it ``deleting``; it is gone minutes
later. RDS sends each end to EventBridge as an "RDS DB Instance Event": RDS-EVENT-0005 "DB instance
created" and RDS-EVENT-0003 "DB instance deleted" (Amazon Aurora User Guide, "Amazon RDS event
categories and event messages for Aurora"). Here both take emulated time on the emulator's clock:
``CREATE_MINUTES`` and ``DELETE_MINUTES``, typical figures (AWS gives none; Serverless v2 writers
take about 10 minutes to create, 5 to delete). Only instances made through the API wait:
CloudFormation waits for them itself, and the emulator's deploy stays instant.

DeleteDBCluster is refused while the cluster "still contains DB instances in non-deleting state"
(moto's InvalidDBClusterStateFault); instances already ``deleting`` go with the cluster.

"AWS Backup restores your Aurora cluster; it does not create or attach an Amazon RDS instance to
your cluster" (AWS Backup Developer Guide, "Restoring an Amazon Aurora cluster"). Such a cluster is
*held*: its PostgreSQL server is stopped (the endpoint refuses connections) until one of its
instances is available, and stopped again when none is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ... import world
from ...clock import CLOCK, Due

logger = logging.getLogger(__name__)

CREATE_MINUTES = 10
DELETE_MINUTES = 5
ORDER = 15  # after scheduled rules (10), before backup plans (20) at the same instant
EVENT_SOURCE = "aws.rds"
DETAIL_TYPE = "RDS DB Instance Event"
# (EventID, category, message) of the two ends, as the RDS event list words them.
CREATED = ("RDS-EVENT-0005", "creation", "DB instance created")
DELETED = ("RDS-EVENT-0003", "deletion", "DB instance deleted")


@dataclass(frozen=True)
class Change:
    """An instance that is ``creating`` or ``deleting`` until ``when``."""

    account_id: str
    region: str
    identifier: str
    when: datetime
    ends: str  # "available" or "deleted"


_lock = threading.RLock()
_changes: dict[tuple[str, str, str], Change] = {}
_held: set[tuple[str, str, str]] = set()  # (account, region, cluster): answers SQL only with an instance


def begin_create(instance: world.DBInstance) -> None:
    """The instance is ``creating`` for CREATE_MINUTES of emulated time."""
    _begin(instance, "creating", CREATE_MINUTES, "available")


def begin_delete(instance: world.DBInstance) -> None:
    """The instance is ``deleting`` for DELETE_MINUTES of emulated time; a held cluster stops
    answering as soon as no instance of it is available."""
    _begin(instance, "deleting", DELETE_MINUTES, "deleted")
    _serve_if_usable(instance.backend.account_id, instance.backend.region_name, instance.db_cluster_identifier)


def _begin(instance: world.DBInstance, status: str, minutes: int, ends: str) -> None:
    """Put the instance in ``status`` and schedule its change to ``ends`` ``minutes`` from now."""
    backend = instance.backend
    with _lock:
        instance.status = status
        change = Change(
            backend.account_id,
            backend.region_name,
            instance.db_instance_identifier,
            CLOCK.now() + timedelta(minutes=minutes),
            ends,
        )
        _changes[(change.account_id, change.region, change.identifier)] = change


def forget(account_id: str, region: str, identifier: str) -> None:
    """The instance went another way (deleted with its cluster): nothing more falls due for it."""
    with _lock:
        _changes.pop((account_id, region, identifier), None)


def hold_until_instance(account_id: str, region: str, cluster: str) -> None:
    """A cluster restored without any instance: its server stops until an instance is available."""
    with _lock:
        _held.add((account_id, region, cluster))
    _serve_if_usable(account_id, region, cluster)


def release(account_id: str, region: str, cluster: str) -> None:
    """The cluster is deleted: forget that it was held."""
    with _lock:
        _held.discard((account_id, region, cluster))


def _serve_if_usable(account_id: str, region: str, cluster: str) -> None:
    """A held cluster's server runs exactly while one of its instances is available."""
    from . import postgres

    if (account_id, region, cluster) not in _held:
        return
    try:
        server = postgres.server_for(cluster)
    except KeyError:
        return
    members = world.cluster_instances(account_id, region, cluster)
    if any(instance.status == "available" for instance in members):
        server.start()
    else:
        server.stop()


def _finish(change: Change) -> None:
    with _lock:
        if _changes.get((change.account_id, change.region, change.identifier)) != change:
            return  # superseded or forgotten
        del _changes[(change.account_id, change.region, change.identifier)]
        instance = world.db_instance(change.account_id, change.region, change.identifier)
        if instance is None:
            return
        if change.ends == "available":
            instance.status = "available"
        else:
            world.drop_db_instance(change.account_id, change.region, change.identifier)
    # The server first: the event may run a consumer at once (the kit's validator connects on it).
    _serve_if_usable(change.account_id, change.region, instance.db_cluster_identifier)
    _emit(instance, CREATED if change.ends == "available" else DELETED)


def _emit(instance: world.DBInstance, what: tuple[str, str, str]) -> None:
    """The "RDS DB Instance Event" RDS sends to the default bus (no event subscription needed)."""
    event_id, category, message = what
    backend = instance.backend
    arn = instance.db_instance_arn
    moment = CLOCK.now()
    detail = {
        "EventCategories": [category],
        "SourceType": "DB_INSTANCE",
        "SourceArn": arn,
        "Date": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "Message": message,
        "SourceIdentifier": instance.db_instance_identifier,
        "EventID": event_id,
    }
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [arn],
        "Time": moment.timestamp(),
    }
    answers = world.put_events(backend.account_id, backend.region_name, [entry])
    if any("ErrorCode" in answer for answer in answers):
        logger.warning("EventBridge refused the %s event of %s: %s", event_id, instance.db_instance_identifier, answers)


def due_instance_changes(start: datetime, end: datetime) -> Iterator[Due]:
    """Timer source: every instance whose creation or deletion ends by ``end``."""
    with _lock:
        changes = [change for change in _changes.values() if change.when <= end]
    for change in changes:
        verb = "created" if change.ends == "available" else "deleted"
        yield Due(max(change.when, start), ORDER, f"DB instance {change.identifier} {verb}", _finisher(change))


def _finisher(change: Change) -> Any:
    def finish() -> None:
        _finish(change)

    return finish
