"""What the SMTP servers (submission and inbound) share."""
