"""triaje: email ingestion and auto-classification for IT service desks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("triaje")
except PackageNotFoundError:  # running from a checkout without install
    __version__ = "0.0.0+unknown"
