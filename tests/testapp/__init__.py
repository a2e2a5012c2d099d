"""A bank account: the small domain the event store's own tests run on, so that they need nothing of the demo site."""
