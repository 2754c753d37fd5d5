"""Jinja2 templates, installed as the package data pipeline.templates."""
