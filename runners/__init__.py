"""How a pipeline is run: local defaults, portable runner, Dataflow."""
