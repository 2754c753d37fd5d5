"""A bundled Maildir of sample desk mail, used by `triaje demo`."""
