"""trial-kb: schema, store, extraction, checks and command line of the knowledge base."""
