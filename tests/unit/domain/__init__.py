"""The executable specification of the pure domain: no store, no service, no clock."""
