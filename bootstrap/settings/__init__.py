"""Typed models of the inventory namespaces, one module per namespace."""
