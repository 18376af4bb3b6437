"""Console screens for the venues and categories that events point to."""
