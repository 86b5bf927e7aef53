"""Policy domain: the status machine, the policy record, and the workflows that move policies through it."""
