"""circle-server: hosts ephemeral circles and relays ciphertext."""
