"""Thin adapters between the domain and the outside: the event store and notifiers."""
