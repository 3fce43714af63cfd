"""One module per command, each `run(repo, args) -> int`; none imports another."""
