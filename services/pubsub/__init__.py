"""Live updates: one MongoDB change stream per process, fanned out in-process to bounded subscriber queues."""
