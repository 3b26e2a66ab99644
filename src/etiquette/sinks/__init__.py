"""Where incidents go besides the JSONL file: adapters around the pipeline's output."""
