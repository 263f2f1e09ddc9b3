"""Checking what receivers check in DNS: judging records (pure) and asking for them."""
