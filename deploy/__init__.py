"""Running the server for real: systemd units, and several shards behind Envoy."""
