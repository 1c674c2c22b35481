"""Requisition pages: the list, the form that raises one, one requisition with its movements
and steps, the ageing report."""
