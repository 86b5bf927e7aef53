"""Child processes for the embedded default: the SecantusDB server and the local Stacks devnet."""
