"""Ingest: mail in from IMAP or a Maildir, raw bytes stored, server copy marked."""
