"""Responsibility: provenance, rights gate, originality, scope, audits, model cards."""
