// Configuration: the agent's YAML settings (config/acoustic-edge.yaml), validated key by key.
