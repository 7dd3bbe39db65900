"""AMQP topology, the confirming publisher and the idempotent consumer shared by all services."""
