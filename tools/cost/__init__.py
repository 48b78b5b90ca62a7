"""Estimated monthly cost of the synthesized templates (``python -m tools.cost --help``, ``make cost``).

Reads every template of one or more CDK cloud assemblies (one per profile), prices each resource with
the unit prices in ``prices-us-east-1.json`` under the scenarios in ``usage.json`` (idle, typical load),
and sets the same templates priced as the naive build (NAT gateways, provisioned instances) beside it.
"""
