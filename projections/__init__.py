"""The read side: case list and statistics projected from the event store's read_all."""
