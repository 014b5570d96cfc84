"""Running the gateway: configuration, settings, the command line, metrics and logs."""
