"""The inbound listener: the SMTP server for bounces, complaints and unsubscribe mail."""
