"""Requisitions for work and repairs: raising one, its flow from submitted to closed with a
movement row per step, escalation past the due date, the work order it becomes, the ageing
report."""
