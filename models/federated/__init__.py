"""Federated learning among lenders (issue 15): each institution keeps its own rows; a Flower
server aggregates model updates; every round's updates and aggregate are hashed, signed and
anchored so that consortium members can re-check the aggregation.

* :mod:`.partition` — the documented, reproducible non-IID split of a data set into institutions;
* :mod:`.stats` — preprocessing fitted from aggregated statistics, never from pooled rows.
"""
