"""Named protocol limits shared by server and client (PROTOCOL.md section 2)."""

from __future__ import annotations

PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS = frozenset({2})

MAX_FRAME_BYTES = 64 * 1024
"""Default largest websocket message a server accepts; hosts may lower it."""

MAX_STR = 8 * 1024
"""Largest plaintext string field in a frame (guidelines, crisis resources, error text)."""
MAX_TITLE = 120
MAX_LIST = 256
"""Largest list in a frame (rekey entries, go-around order, lobby listing)."""
MAX_MAP = 32
MAX_SEALED = 20 * 1024
"""Largest ciphertext field: the biggest padding bucket plus AEAD overhead, with room."""
MAX_SEALED_TO = 1024
"""Largest sealed box for one member: a rekey entry, a concern, a check-out mood."""
MAX_COMMIT_ENTRY = 1 + 32 + 1088 + 32 + 16
"""Largest commit secret sealed to one member's epoch key: 1,169 bytes with ML-KEM-768
(PROTOCOL.md 9.2), 81 with X25519 alone."""
MAX_HYBRID_CAPACITY = 50
"""Seats in a suite-2 circle: a post-quantum commit to everyone must fit one frame (9.9)."""


def hybrid_commit_frame_bytes(members: int) -> int:
    """An upper bound on the encoded rekey that seals a post-quantum commit to ``members``:
    each entry with its field names and lengths, and the frame's other fields (9.4)."""
    return 1024 + members * (MAX_COMMIT_ENTRY + 32)


MLKEM_PUBLIC_BYTES = 1184
"""An ML-KEM-768 public key, as a key update or knock announces it (PROTOCOL.md 9.3)."""
MAX_NOTE = 2048
"""Largest sealed private warning note in a moderation frame."""

ID_BYTES = 16
"""Circle ids are 16 random bytes chosen by the opener."""
KEY_BYTES = 32
SIG_BYTES = 64
NONCE_BYTES = 24
CHALLENGE_BYTES = 32
SECRET_BYTES = 32
FINGERPRINT_BYTES = 16

MAX_MEMBER_ID = 2**31 - 1
MAX_SEQ = 2**53
MAX_EPOCH = 2**31 - 1
MAX_MINUTES = 24 * 60
MAX_CAPACITY = 256

PAD_BUCKETS = (256, 1024, 4096, 16384)
"""Plaintexts are padded to the smallest bucket that fits (S1)."""

MAX_HANDLE = 32
MAX_BODY = PAD_BUCKETS[-1] - 512
"""Largest message body in bytes of UTF-8; the rest of the bucket is for content framing."""

MAX_CONCERN_CHARS = 500
MAX_CONCERN_BYTES = 820
"""A concern's note: at most 500 characters and 820 bytes of UTF-8, so that the padded content,
with its sender's signature, always fits a ``SealedTo`` (PROTOCOL.md 5.9)."""
MAX_WARNING_BYTES = MAX_NOTE - 48 - 1  # 48: crypto.BOX_OVERHEAD
"""A private warning's note in bytes of UTF-8: the field less the sealed box's overhead and
the padding marker."""

MAX_SEQ_JUMP = 1000
"""A sender's sequence number may not jump further ahead than this (caps skipped-gap state)."""
MAX_EPOCH_JUMP = 16
"""A rekey may skip at most this many epochs (a member that missed some while away)."""
EPOCH_RETENTION = 1
"""Previous epochs whose keys are kept for late messages; older ones are wiped (9.7)."""
MAX_OPEN_GAPS = 256
"""Missing sequence numbers remembered per sender; older gaps are reported and forgotten."""
MAX_RISK_PHRASES = 64
MAX_RISK_PHRASE = 200
"""Host-added risk phrases in ``server_hello``: at most 64 of at most 200 characters each; the
client matches them in the writer's own drafts, locally (PROTOCOL.md, ``server_hello``)."""
