"""A picture (PIL image) as the bytes a request carries: what a client does before sending it."""

import io


def encode(image, format="PNG", **options) -> bytes:
    """`image` saved in `format` (PNG, JPEG, ... with PIL's save options) -> the encoded file's bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()
