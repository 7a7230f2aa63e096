"""circle: the terminal client for Circle."""
