"""Step 2: can the caller reach the service or the database from where it is? Today: always.

[az-resilience] decides here, from ``request.caller`` (its subnets and security groups) and the
emulated VPC's state (route tables, network ACLs -- FIS's ``aws:network:disrupt-connectivity``
swaps them for deny-all ones -- and the AZ of each subnet):

- an API request from a function in a VPC reaches the service only through an endpoint: a gateway
  endpoint in its subnet's route table (S3, DynamoDB) or an interface endpoint with an ENI in a
  subnet it can reach, whose security group admits the function's on 443;
- a database connection (``Request.connection``: service ``rds-db``, the cluster, the port)
  reaches the cluster's writer only if the caller's subnet can reach the writer's AZ and the
  cluster's security groups admit the caller's groups on the port.

A caller outside any VPC (the root caller of the CDK CLI and the tests, a function without
VpcConfig) and an AWS service working on its own infrastructure (``caller.service``, e.g. AWS
Backup's snapshot of a cluster) are not subject to the VPC's network. An unreachable service does
not answer with an AWS error but with nothing: the denial this step returns is meant to make the
pipeline withhold the answer until the client's connect timeout, which the issue that fills this
step adds.
"""

from __future__ import annotations

from .request import Denial, Request


def decide(request: Request) -> Denial | None:
    """None: everything is reachable from everywhere."""
    return None
