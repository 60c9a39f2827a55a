"""The command handlers, one module per concern; :mod:`armox_enterprise.cli.parser` wires them."""
