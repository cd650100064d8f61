"""handler/multipart_body.py: a multipart body read from its bytes, as the front door sends it on."""

import pytest
import requests

from input_errors import InvalidInput
from multipart_body import MAX_FORM_FIELDS, form_fields, is_multipart
from tests.conftest import SEVEN_PNG


def multipart(*fields) -> bytes:
    """A body as requests encodes it: fields is (name, bytes) pairs, each a file part."""
    prepared = requests.Request("POST", "http://x", files=[(name, ("f", data)) for name, data in fields]).prepare()
    return prepared.body


def test_is_multipart_tells_a_multipart_body_by_its_first_line():
    assert is_multipart(multipart(("data", SEVEN_PNG)))
    assert not is_multipart(SEVEN_PNG)
    assert not is_multipart(b"--" + b"a" * 71 + b"\r\n")  # a boundary is at most 70 characters
    assert not is_multipart(b"iVBORw0KGgo=")


def test_form_fields_gives_each_field_by_name():
    assert form_fields(multipart(("data", SEVEN_PNG), ("note", b"x"))) == {"data": SEVEN_PNG, "note": b"x"}


def test_a_field_without_a_name_is_read_under_the_empty_name():
    """TorchServe's decoder answers this one with a 500 (found by Schemathesis)."""
    body = b'--b\r\nContent-Disposition: form-data; name=""\r\n\r\n' + SEVEN_PNG + b"\r\n--b--\r\n"
    assert form_fields(body) == {"": SEVEN_PNG}


def test_more_fields_than_the_bound_are_refused():
    assert len(form_fields(multipart(*[(f"f{i}", b"x") for i in range(MAX_FORM_FIELDS)]))) == MAX_FORM_FIELDS
    with pytest.raises(InvalidInput, match=f"more than {MAX_FORM_FIELDS} fields"):
        form_fields(multipart(*[(f"f{i}", b"x") for i in range(MAX_FORM_FIELDS + 1)]))


def test_delimiter_look_alikes_count_as_fields_before_the_body_is_parsed():
    """python-multipart checks each delimiter it meets in Python: 8 MiB of them took 3.6 CPU-s. Not followed by
    a line break, they are the field's data to it; counted first, they are fields."""
    field = b"--a\r\nContent-Disposition: form-data; name=data\r\n\r\n"
    look_alikes = b"\r\n--a-" * (MAX_FORM_FIELDS - 1)  # and the closing delimiter: as many as fields allowed
    assert form_fields(field + look_alikes + b"\r\n--a--\r\n") == {"data": look_alikes}
    with pytest.raises(InvalidInput, match=f"more than {MAX_FORM_FIELDS} fields"):
        form_fields(field + look_alikes + b"\r\n--a-\r\n--a--\r\n")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated", id="no-closing-boundary"),
        pytest.param(b"--b\r\n" + b"X-Header: y\r\n" * 20 + b"\r\nx\r\n--b--\r\n", id="too-many-headers"),
        pytest.param(b"--b\r\nno colon here\r\n\r\nx\r\n--b--\r\n", id="header-without-colon"),
    ],
)
def test_a_body_that_does_not_parse_is_refused_saying_so(body):
    with pytest.raises(InvalidInput, match="multipart body"):
        form_fields(body)
