"""A multipart/form-data body that reaches the handler as bytes: its fields, as TorchServe would have parsed them.

The front door sends multipart bodies on as application/octet-stream (k8s/auth-proxy.conf.template):
TorchServe's own decoder answers some malformed ones (a field without a name) with a 500 before any worker
could refuse them. Here a body is told for multipart by its first line, "--<boundary>" as RFC 2046 writes
it, and read by python-multipart, with the number of fields bounded before they are kept.
"""

import re

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from input_errors import ACCEPTED_INPUT, InvalidInput, quoted

# More than any upload of one picture needs; a body of thousands of tiny fields is refused at the 65th.
MAX_FORM_FIELDS = 64

# RFC 2046: 1-70 characters of this set, not ending in a space, on the body's first line.
_FIRST_LINE = re.compile(rb"--([0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-])\r\n")


def is_multipart(body: bytes) -> bool:
    """Whether the body begins as a multipart body does."""
    return _FIRST_LINE.match(body) is not None


def form_fields(body: bytes) -> dict:
    """The fields of a multipart body (is_multipart) as {name: bytes}, the last of a repeated name kept, a
    field without a name under ""; refuses a body that does not parse, or one of over MAX_FORM_FIELDS."""
    boundary = _FIRST_LINE.match(body)[1]
    # python-multipart steps through the bytes after each delimiter in Python: counted first, as every field
    # but the first begins with one and the last ends with one (8 MiB of look-alikes took 3.6 CPU-s). _Fields
    # still counts the fields it meets: a last field left unclosed has no delimiter after it.
    if body.count(b"\r\n--" + boundary) > MAX_FORM_FIELDS:
        raise _too_many_fields()
    fields = _Fields()
    parser = MultipartParser(boundary, fields.callbacks())
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise InvalidInput(f"the multipart body does not parse ({quoted(str(error))}); {ACCEPTED_INPUT}") from None
    if not fields.values:
        raise InvalidInput(f"the multipart body has no complete field; {ACCEPTED_INPUT}")
    return fields.values


def _too_many_fields() -> InvalidInput:
    return InvalidInput(f"the multipart body has more than {MAX_FORM_FIELDS} fields; send the image as one")


class _Fields:
    """python-multipart's callbacks, collecting each field's name and bytes."""

    def __init__(self):
        self.values = {}
        self._count = 0
        self._name = self._header = b""
        self._chunks = []

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self):
        self._count += 1
        if self._count > MAX_FORM_FIELDS:
            raise _too_many_fields()
        self._name, self._chunks = b"", []

    def _header_field(self, data: bytes, start: int, end: int):
        self._header = data[start:end].lower()

    def _header_value(self, data: bytes, start: int, end: int):
        if self._header == b"content-disposition":
            self._name = parse_options_header(data[start:end])[1].get(b"name", b"")

    def _data(self, data: bytes, start: int, end: int):
        self._chunks.append(data[start:end])

    def _end(self):
        self.values[self._name.decode("utf-8", "replace")] = b"".join(self._chunks)
