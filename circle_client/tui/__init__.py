"""The Textual user interface of ``circle``; everything it knows comes from the session core."""
