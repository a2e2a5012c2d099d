"""Signals sent with appended events.

`events_appended` is sent inside the append's transaction (where the backend shares the Django
database): a receiver that raises rolls the append back. Inline projections listen here.
`events_committed` is sent once the transaction has committed: a failed append publishes nothing.
Both send `events` (a list of StoredEvent, in version order). A backend that assigns positions after the
append (DynamoDB's indexer) sends only `events_committed`, with positions 0 (not known yet).
"""

from django.dispatch import Signal

events_appended = Signal()
events_committed = Signal()
