"""Outbound: mail planned in the processing transaction, rendered and sent by the sender."""
