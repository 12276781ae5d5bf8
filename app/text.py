"""Small checks on text that people and providers send."""


def has_control_characters(text, allow=""):
    """Whether text holds a C0 control character or DEL, other than those in `allow`."""
    return any((ord(ch) < 0x20 and ch not in allow) or ord(ch) == 0x7F for ch in text)
