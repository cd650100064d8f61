"""What a picture's file structure asks of a decoder, read from its bytes before Pillow opens it.

Pillow parses a file's structure in Python, one step per structural unit (a PNG chunk, a JPEG marker
segment, a TIFF tag or strip, a GIF extension block, a run of a run-length BMP), and some units make
libraries do far more than the pixels need (a TIFF strip list builds one tile per entry, a progressive
JPEG walks every coefficient once per scan, a JPEG inside a TIFF brings its own scans). A few hundred
bytes can hold a million units. So each format's units are counted here first, by a walk that stops as
soon as a bound is passed, and what the decoder would have to hold or walk is worked out from the
headers; inspect() refuses a file over a bound before any decoder sees it. The bounds are far above
what cameras, scanners, editors and browsers write (each is explained where it is set).
"""

import math
import re
import struct
from dataclasses import dataclass

from input_errors import InvalidInput, PayloadTooLarge, UnsupportedImage

# JPEG: libjpeg's standard progressive script has 10 scans for colour (6 for grey), baseline JPEGs 1 (at
# most 4 when non-interleaved), optimised scripts (mozjpeg) under 20.
MAX_JPEG_SCANS = 32
# Marker segments before and between the scans (APPn, COM, DQT, DHT, ...): a photo has a few dozen (an ICC
# profile split over APP2 segments, a DHT per progressive scan); Pillow reads each in Python.
MAX_JPEG_SEGMENTS = 1024
# A progressive JPEG's decoder walks, in every scan, each coefficient of the scan's spectral band in every
# block of the scan's components: the sum over the scans is the decoding work (~0.5 ns each here). A
# standard progressive 4096x4096 colour picture walks ~70 million (4:2:0) to ~120 million (4:4:4); a scan
# bomb repeating a full refinement scan walks 17 million per scan at that size.
MAX_JPEG_COEFFICIENT_VISITS = 128 * 2**20
# PNG: encoders cut the image data into chunks of 8-64 KiB (libpng: 8 KiB, so ~1,000 for 8 MiB); Pillow
# reads each chunk in Python.
MAX_PNG_CHUNKS = 8192
# TIFF: a directory holds 10-40 tags (a few hundred with rich EXIF/GeoTIFF); Pillow reads each in Python.
MAX_TIFF_TAGS = 512
# One tag's values (an ICC profile, XMP, a strip list of a tall image): Pillow unpacks them all into Python
# objects; the strip and tile lists are held to what the image's size needs, besides this bound.
MAX_TIFF_TAG_BYTES = 256 * 1024
# The compressions Pillow decodes in C (libtiff) without another codec inside: no compression, CCITT fax
# (2, 3, 4), LZW, PackBits and Deflate. JPEG-in-TIFF (6, 7) carries whole JPEGs per strip or tile (and their
# scans); others (JPEG 2000, WebP, ZSTD, LZMA, JBIG...) are refused as well.
TIFF_COMPRESSIONS = {
    1: "none",
    2: "CCITT RLE",
    3: "CCITT fax 3",
    4: "CCITT fax 4",
    5: "LZW",
    8: "Deflate",
    32946: "Deflate",
    32773: "PackBits",
}
# GIF: extension blocks before the first image (loop count, comments, application data), in sub-blocks of
# at most 255 bytes: a few dozen in a GIF from any tool; Pillow reads each in Python and keeps comments.
MAX_GIF_BLOCKS = 4096
# BMP: uncompressed or bit-field pixels only; a run-length BMP (RLE4/RLE8) is decoded by Pillow in Python,
# two bytes of file per step: 8 MiB of one-pixel runs took ~1 CPU-s.
BMP_COMPRESSIONS = {0: "none", 3: "bit fields", 6: "alpha bit fields"}
# WebP: Pillow's decoder (libwebp's animation decoder, for every WebP) allocates two full RGBA canvases
# when it opens the file and copies a frame into a third: 12 bytes a pixel before any other work.
WEBP_BYTES_PER_PIXEL = 12

# In a JPEG scan's entropy-coded data 0xFF is followed by a stuffed 0x00, a restart marker (RST0-7) or
# another 0xFF (fill); anything else after 0xFF is the next real marker.
_MARKER_AFTER_SCAN_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_PROGRESSIVE_FRAMES = {0xC2, 0xC6, 0xCA, 0xCE}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_TIFF_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}


@dataclass(frozen=True)
class Structure:
    """What inspect() learnt that the decoding budget needs: the bits a pixel takes in the file (16-bit
    channels are inflated and unpacked at twice the bytes Pillow keeps of them), the bytes a decoder holds
    beyond the decoded image itself while it decodes (a progressive JPEG's coefficients, a TIFF's strip
    buffer), and those it allocates as soon as the file is opened and holds until the picture is released
    (WebP's canvases)."""

    extra_bytes: int = 0
    bits_per_pixel: int = 0
    open_bytes: int = 0


@dataclass(frozen=True)
class JpegStructure:
    scans: int
    segments: int
    progressive: bool = False
    coefficient_visits: int = 0  # progressive: the decoding work, summed over the scans
    coefficient_bytes: int = 0  # progressive: what the decoder buffers (2 bytes a coefficient)


def inspect(data: bytes) -> Structure:
    """Check the structure of a file whose first bytes name an accepted format; refuse it (a typed
    InputError) if a bound is passed. Bytes of any other kind pass untouched: Pillow then says what they are."""
    if data[:3] == b"\xff\xd8\xff":
        return _checked_jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _checked_png(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _checked_tiff(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _checked_gif(data)
    if data[:2] == b"BM":
        return _checked_bmp(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _checked_webp(data)
    return Structure()


# --- JPEG ------------------------------------------------------------------------------------------------


def jpeg_structure(data: bytes) -> JpegStructure:
    """Scans, marker segments and (progressive) coefficient work of a JPEG, walking its segments as libjpeg
    does; the walk stops at EOI or once a bound is passed (the counts are then one over it)."""
    scans = segments = visits = 0
    blocks = {}  # component id -> blocks in the frame
    progressive = False
    for marker, body in _marker_segments(data):
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            break
        if marker in _JPEG_FRAMES and not blocks:
            progressive = marker in _JPEG_PROGRESSIVE_FRAMES
            blocks = _jpeg_component_blocks(body)
        if marker == 0xDA:
            scans += 1
            visits += _jpeg_scan_visits(body, blocks) if progressive else 0
            if scans > MAX_JPEG_SCANS or visits > MAX_JPEG_COEFFICIENT_VISITS:
                break
    coefficients = 64 * sum(blocks.values()) if progressive else 0
    return JpegStructure(scans, segments, progressive, visits, 2 * coefficients)


def _marker_segments(data: bytes):
    """(marker, body) of each marker segment of a JPEG, in order, as libjpeg reads them, up to EOI.

    Stray bytes between segments and fill bytes are skipped, markers without a length passed over, and
    segments (APPn, COM, DHT, ...) skipped by their length, so an EXIF thumbnail's own markers are not
    seen. In a scan's entropy-coded data every 0xFF byte is followed by a stuffed 0x00 or is a restart
    marker (RST0-7), so the first other 0xFF xx there is the next real marker (found by a regular
    expression, at C speed: a 10 MB photo is walked in a few milliseconds)."""
    position, end = 2, len(data)  # after SOI
    while position + 1 < end:
        marker = data[position + 1]
        if data[position] != 0xFF:  # stray bytes: libjpeg skips to the next 0xFF
            position = data.find(b"\xff", position)
            if position < 0:
                return
        elif marker == 0xFF:  # fill byte before a marker
            position += 1
        elif marker == 0xD9 or position + 4 > end:  # EOI: libjpeg reads nothing after it
            return
        elif marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
        else:
            length = int.from_bytes(data[position + 2 : position + 4], "big")
            yield marker, data[position + 4 : position + 2 + length]
            position += 2 + length
            if marker == 0xDA:  # the scan's entropy-coded data follows
                following = _MARKER_AFTER_SCAN_DATA.search(data, position)
                if following is None:
                    return
                position = following.start()


def _jpeg_component_blocks(frame: bytes) -> dict:
    """Component id -> its 8x8 blocks, padded to whole MCUs, from a SOFn segment's body."""
    if len(frame) < 6:
        return {}
    height, width, count = struct.unpack(">HHB", frame[1:6])
    components = [frame[6 + 3 * i : 9 + 3 * i] for i in range(count) if len(frame) >= 9 + 3 * i]
    if not components:
        return {}
    h_max = max(max(c[1] >> 4 for c in components), 1)
    v_max = max(max(c[1] & 15 for c in components), 1)
    mcus_across, mcus_down = math.ceil(width / (8 * h_max)), math.ceil(height / (8 * v_max))
    return {c[0]: mcus_across * (c[1] >> 4) * mcus_down * (c[1] & 15) for c in components}


def _jpeg_scan_visits(scan: bytes, blocks: dict) -> int:
    """Coefficients a progressive scan walks: the blocks of its components times its spectral band."""
    if not scan:
        return 0
    count = scan[0]
    if len(scan) < 1 + 2 * count + 2:
        return 0
    band = max(scan[2 + 2 * count] - scan[1 + 2 * count] + 1, 1)  # Se - Ss + 1
    return band * sum(blocks.get(scan[1 + 2 * i], 0) for i in range(count))


def _checked_jpeg(data: bytes) -> Structure:
    found = jpeg_structure(data)
    if found.segments > MAX_JPEG_SEGMENTS:
        raise PayloadTooLarge(
            f"the JPEG has more than {MAX_JPEG_SEGMENTS:,} marker segments, so it was not decoded; JPEGs with at "
            f"most {MAX_JPEG_SEGMENTS:,} are accepted (a photo has a few dozen)"
        )
    if found.scans > MAX_JPEG_SCANS:
        raise PayloadTooLarge(
            f"the JPEG has more than {MAX_JPEG_SCANS} scans, so it was not decoded; JPEGs with at most "
            f"{MAX_JPEG_SCANS} scans are accepted (baseline JPEGs have 1, standard progressive ones about 10)"
        )
    if found.coefficient_visits > MAX_JPEG_COEFFICIENT_VISITS:
        raise PayloadTooLarge(
            f"the progressive JPEG's scans walk more than {MAX_JPEG_COEFFICIENT_VISITS:,} coefficients, so it was "
            "not decoded (a standard progressive 4096x4096 picture walks fewer than that): send it as a baseline "
            "JPEG, or smaller"
        )
    return Structure(extra_bytes=found.coefficient_bytes)


# --- PNG ---------------------------------------------------------------------------------------------------


def png_chunk_count(data: bytes, stop_after: int = MAX_PNG_CHUNKS + 1) -> int:
    """Chunks of a PNG up to IEND (or the end of the bytes), counting stops at stop_after."""
    count, position = 0, 8
    while position + 8 <= len(data) and count < stop_after:
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        count += 1
        position += 12 + length
        if kind == b"IEND":
            break
    return count


def _checked_png(data: bytes) -> Structure:
    if png_chunk_count(data) > MAX_PNG_CHUNKS:
        raise PayloadTooLarge(
            f"the PNG has more than {MAX_PNG_CHUNKS:,} chunks, so it was not decoded; PNGs with at most "
            f"{MAX_PNG_CHUNKS:,} are accepted (encoders write their pixels in chunks of 8 KiB or more)"
        )
    if len(data) < 26 or data[12:16] != b"IHDR":
        return Structure()
    bit_depth, colour_type = data[24], data[25]
    return Structure(bits_per_pixel=bit_depth * _PNG_CHANNELS.get(colour_type, 1))


# --- TIFF --------------------------------------------------------------------------------------------------


def _checked_tiff(data: bytes) -> Structure:
    """The first directory (the only page decoded): its tag count, each tag's size, the compression, and
    strip or tile lists no longer than the image's size needs."""
    if data[2:4] in (b"+\x00", b"\x00+"):
        raise UnsupportedImage(
            "BigTIFF is not accepted (a picture of a digit never needs it); send a TIFF, PNG or JPEG"
        )
    order = "<" if data[:2] == b"II" else ">"
    try:
        (directory,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, directory)
    except struct.error:
        raise InvalidInput("the TIFF is truncated: its first directory is missing") from None
    if count > MAX_TIFF_TAGS:
        raise PayloadTooLarge(
            f"the TIFF's directory has {count:,} tags; at most {MAX_TIFF_TAGS} are accepted (a picture has a few dozen)"
        )
    tags = {}
    for index in range(count):
        try:
            tag, kind, values, inline = struct.unpack_from(order + "HHI4s", data, directory + 2 + 12 * index)
        except struct.error:
            raise InvalidInput("the TIFF is truncated inside its first directory") from None
        size = values * _TIFF_TYPE_SIZES.get(kind, 1)
        if size > MAX_TIFF_TAG_BYTES:
            raise PayloadTooLarge(
                f"the TIFF's tag {tag} holds {size:,} bytes; at most {MAX_TIFF_TAG_BYTES:,} are accepted per tag"
            )
        tags[tag] = (kind, values, inline)
    return _checked_tiff_layout(data, order, tags)


def _tiff_number(data: bytes, order: str, entry, default: int = 0) -> int:
    """The first value of a SHORT or LONG tag, read from the entry or from where it points."""
    if entry is None:
        return default
    kind, values, inline = entry
    if values < 1 or kind not in (3, 4):
        return default
    code = order + ("H" if kind == 3 else "I")
    if values * struct.calcsize(code) <= 4:
        return struct.unpack_from(code, inline)[0]
    try:
        return struct.unpack_from(code, data, struct.unpack(order + "I", inline)[0])[0]
    except struct.error:
        return default


def _checked_tiff_layout(data: bytes, order: str, tags: dict) -> Structure:
    compression = _tiff_number(data, order, tags.get(259), 1)
    if compression not in TIFF_COMPRESSIONS:
        accepted = ", ".join(sorted(set(TIFF_COMPRESSIONS.values()), key=list(TIFF_COMPRESSIONS.values()).index))
        kind = "JPEG" if compression in (6, 7) else f"scheme {compression}"
        raise UnsupportedImage(
            f"a TIFF compressed with {kind} is not accepted; TIFFs with these compressions are: {accepted} "
            "(or send a JPEG as a JPEG)"
        )
    width = _tiff_number(data, order, tags.get(256))
    height = _tiff_number(data, order, tags.get(257))
    samples = max(_tiff_number(data, order, tags.get(277), 1), 1)
    bits = max(_tiff_number(data, order, tags.get(258), 1), 1)
    planes = samples if _tiff_number(data, order, tags.get(284), 1) == 2 else 1
    if 322 in tags or 324 in tags:  # tiled
        tile_width = max(_tiff_number(data, order, tags.get(322), 1), 1)
        tile_height = max(_tiff_number(data, order, tags.get(323), 1), 1)
        needed = math.ceil(width / tile_width) * math.ceil(height / tile_height) * planes
        listed = max(tags.get(324, (0, 0, b""))[1], tags.get(325, (0, 0, b""))[1])
        unit_rows, unit_width, what = tile_height, tile_width, "tiles"
    else:
        rows_per_strip = min(max(_tiff_number(data, order, tags.get(278), height), 1), max(height, 1))
        needed = math.ceil(height / rows_per_strip) * planes
        listed = max(tags.get(273, (0, 0, b""))[1], tags.get(279, (0, 0, b""))[1])
        unit_rows, unit_width, what = rows_per_strip, width, "strips"
    if listed > needed:
        raise InvalidInput(
            f"the TIFF lists {listed:,} {what} where its {width}x{height} pixels need {needed:,}; "
            "a TIFF whose strip or tile lists match its size is accepted"
        )
    # libtiff decodes a compressed strip or tile whole into a buffer of its own before Pillow unpacks it.
    unit_bytes = unit_rows * math.ceil(unit_width * bits * samples / planes / 8) if compression != 1 else 0
    return Structure(extra_bytes=unit_bytes, bits_per_pixel=bits * samples)


# --- GIF ---------------------------------------------------------------------------------------------------


def gif_blocks_before_image(data: bytes, stop_after: int = MAX_GIF_BLOCKS + 1) -> int:
    """Extension sub-blocks before the first image descriptor; counting stops at stop_after."""
    position = 13
    if len(data) > 10 and data[10] & 0x80:  # global colour table
        position += 3 * 2 ** ((data[10] & 7) + 1)
    blocks = 0
    while position < len(data) and blocks < stop_after:
        introducer = data[position]
        if introducer != 0x21:  # 0x2C: the first image; 0x3B: the end; anything else: Pillow decides
            break
        position += 2
        while position < len(data) and blocks < stop_after:
            size = data[position]
            position += 1 + size
            blocks += 1
            if size == 0:
                break
    return blocks


def _checked_gif(data: bytes) -> Structure:
    if gif_blocks_before_image(data) > MAX_GIF_BLOCKS:
        raise PayloadTooLarge(
            f"the GIF has more than {MAX_GIF_BLOCKS:,} extension blocks before its first image; at most "
            f"{MAX_GIF_BLOCKS:,} are accepted (a GIF from any tool has a few)"
        )
    return Structure(bits_per_pixel=8)


# --- BMP ---------------------------------------------------------------------------------------------------


def _checked_bmp(data: bytes) -> Structure:
    header_size = int.from_bytes(data[14:18], "little") if len(data) >= 18 else 0
    if header_size < 40 or len(data) < 34:  # the old OS/2 header has no compression field
        return Structure()
    compression = int.from_bytes(data[30:34], "little")
    if compression not in BMP_COMPRESSIONS:
        kind = {1: "RLE8", 2: "RLE4", 4: "JPEG", 5: "PNG"}.get(compression, f"scheme {compression}")
        raise UnsupportedImage(f"a BMP compressed with {kind} is not accepted; uncompressed BMPs are (or send a PNG)")
    return Structure(bits_per_pixel=int.from_bytes(data[28:30], "little"))


# --- WebP --------------------------------------------------------------------------------------------------


def webp_size(data: bytes) -> tuple:
    """(width, height) of a WebP's canvas from its first chunk (VP8X, VP8L or VP8), (0, 0) if unreadable."""
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 " and len(data) >= 30:
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return 0, 0


def _checked_webp(data: bytes) -> Structure:
    width, height = webp_size(data)
    return Structure(bits_per_pixel=32, open_bytes=WEBP_BYTES_PER_PIXEL * width * height)
