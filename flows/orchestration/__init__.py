"""How a study runs: its steps, event batches, the Prefect flows and deployments, artifacts."""
