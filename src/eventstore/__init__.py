"""An event store for Django: immutable events, aggregates rebuilt from their history."""
