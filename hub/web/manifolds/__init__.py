"""Oxygen manifold pages: the manifolds with their supply, one manifold with its changeovers, the set-up form."""
