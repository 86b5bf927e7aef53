"""MongoDB persistence: the client, indexes, and repositories behind narrow interfaces."""
