"""What receivers send back by mail: bounces, complaints, unsubscribes and auto-replies."""
