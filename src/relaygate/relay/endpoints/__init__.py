"""The non-chat ``/v1`` endpoints, one module per family, on the pipeline of :mod:`relaygate.relay.pipeline`."""
