"""mailpools."""
