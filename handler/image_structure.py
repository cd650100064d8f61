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
import zlib
from dataclasses import dataclass

from input_errors import InvalidInput, PayloadTooLarge, UnsupportedImage

# Metadata (text, EXIF, ICC profiles, XMP, comments): the service reads pixels only, but Pillow copies every
# piece it finds when it opens a file, and first inflates the compressed PNG ones (zTXt, compressed iTXt,
# iCCP), even those it then drops (a second iCCP, a zTXt without a keyword). So they are counted here as
# Pillow would hold them, the compressed ones inflated, and the count stops as soon as it passes what the
# caller allows: counting costs at most that much inflating. One PNG chunk inflates to at most this (Pillow
# refuses more, image_decoding sets it there); real pictures carry a few kB, an ICC profile 0.5-60 kB.
MAX_TEXT_CHUNK = 256 * 1024
# A PNG's text chunks together (Pillow's MAX_TEXT_MEMORY, which counts only the text it keeps), and all its
# metadata, inflated: its text and one ICC profile.
MAX_TEXT_PER_IMAGE = 512 * 1024
MAX_PNG_METADATA = MAX_TEXT_PER_IMAGE + MAX_TEXT_CHUNK
_PNG_METADATA = {b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"eXIf"}
_WEBP_METADATA = {b"ICCP", b"EXIF", b"XMP "}
# JPEG: APP0-APP15 (JFIF, EXIF, XMP, ICC, Adobe, ...) and COM, which Pillow keeps whole in image.applist.
_JPEG_METADATA = set(range(0xE0, 0xF0)) | {0xFE}

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
# Chunks of a WebP walked for its metadata: a still picture has 2-5. An animation has one a frame, and
# its EXIF and XMP come after them: past this many those are charged once Pillow has opened it.
MAX_WEBP_CHUNKS = 64

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
    metadata_bytes: int = 0  # what Pillow will hold of its metadata (counted up to the allowance + 1)


@dataclass(frozen=True)
class JpegStructure:
    scans: int
    segments: int
    progressive: bool = False
    coefficient_visits: int = 0  # progressive: the decoding work, summed over the scans
    coefficient_bytes: int = 0  # progressive: what the decoder buffers (2 bytes a coefficient)
    metadata_bytes: int = 0  # APPn and COM segments


def inspect(data: bytes, metadata_allowance: int = 0) -> Structure:
    """Check the structure of a file whose first bytes name an accepted format; refuse it (a typed
    InputError) if a bound is passed. Bytes of any other kind pass untouched: Pillow then says what they are.
    Its metadata is counted up to metadata_allowance + 1 bytes (the caller refuses more; by default the
    count stops at the first byte)."""
    if data[:3] == b"\xff\xd8\xff":
        return _checked_jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _checked_png(data, metadata_allowance)
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
    metadata = 0
    for marker, body in _marker_segments(data):
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            break
        metadata += len(body) if marker in _JPEG_METADATA else 0
        if marker in _JPEG_FRAMES and not blocks:
            progressive = marker in _JPEG_PROGRESSIVE_FRAMES
            blocks = _jpeg_component_blocks(body)
        if marker == 0xDA:
            scans += 1
            visits += _jpeg_scan_visits(body, blocks) if progressive else 0
            if scans > MAX_JPEG_SCANS or visits > MAX_JPEG_COEFFICIENT_VISITS:
                break
    coefficients = 64 * sum(blocks.values()) if progressive else 0
    return JpegStructure(scans, segments, progressive, visits, 2 * coefficients, metadata)


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
    return Structure(extra_bytes=found.coefficient_bytes, metadata_bytes=found.metadata_bytes)


# --- PNG ---------------------------------------------------------------------------------------------------


def _png_chunks(data: bytes):
    """(type, start, end) of each chunk of a PNG, its body being data[start:end], up to IEND or the end of
    the bytes (offsets, not slices: a chunk may be megabytes)."""
    position = 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        yield kind, position + 8, min(position + 8 + length, len(data))
        position += 12 + length
        if kind == b"IEND":
            return


def png_chunk_count(data: bytes, stop_after: int = MAX_PNG_CHUNKS + 1) -> int:
    """Chunks of a PNG up to IEND (or the end of the bytes), counting stops at stop_after."""
    count = 0
    for _ in _png_chunks(data):
        count += 1
        if count >= stop_after:
            break
    return count


def png_metadata_bytes(data: bytes, stop_after: int) -> int:
    """The text, ICC profile and EXIF a PNG's chunks hold once Pillow has read them, the compressed ones
    inflated (each to at most MAX_TEXT_CHUNK + 1 bytes); counting stops once past stop_after."""
    total = 0
    for kind, start, end in _png_chunks(data):
        if kind in _PNG_METADATA:
            total += _png_metadata_chunk_bytes(data, kind, start, end)
            if total > stop_after:
                break
    return total


def _png_metadata_chunk_bytes(data: bytes, kind: bytes, start: int, end: int) -> int:
    name_end = data.find(b"\0", start, end)
    if kind in (b"zTXt", b"iCCP"):  # name, NUL, compression method, compressed data
        return _inflated_size(data, name_end + 2, end) if name_end >= 0 else end - start
    if kind == b"iTXt" and name_end >= 0 and data[name_end + 1 : name_end + 2] == b"\x01":
        # name, NUL, compressed flag, method, language, NUL, translated name, NUL, compressed text
        language_end = data.find(b"\0", name_end + 3, end)
        translated_end = data.find(b"\0", language_end + 1, end) if language_end >= 0 else -1
        return _inflated_size(data, translated_end + 1, end) if translated_end >= 0 else end - start
    return end - start


def _inflated_size(data: bytes, start: int, end: int) -> int:
    """What the zlib data at data[start:end] inflates to, up to MAX_TEXT_CHUNK + 1 bytes (Pillow refuses a
    chunk past that); corrupt data counts its own length (Pillow refuses or drops it)."""
    try:
        return len(zlib.decompressobj().decompress(memoryview(data)[start:end], MAX_TEXT_CHUNK + 1))
    except zlib.error:
        return end - start


def _checked_png(data: bytes, metadata_allowance: int) -> Structure:
    if png_chunk_count(data) > MAX_PNG_CHUNKS:
        raise PayloadTooLarge(
            f"the PNG has more than {MAX_PNG_CHUNKS:,} chunks, so it was not decoded; PNGs with at most "
            f"{MAX_PNG_CHUNKS:,} are accepted (encoders write their pixels in chunks of 8 KiB or more)"
        )
    metadata = png_metadata_bytes(data, stop_after=min(metadata_allowance, MAX_PNG_METADATA))
    if metadata > MAX_PNG_METADATA:
        raise PayloadTooLarge(
            f"the PNG's text, ICC profile and EXIF hold more than {MAX_PNG_METADATA:,} bytes, inflated; at most "
            "that is accepted per picture (the service reads only pixels: strip the metadata)"
        )
    if len(data) < 26 or data[12:16] != b"IHDR":
        return Structure(metadata_bytes=metadata)
    bit_depth, colour_type = data[24], data[25]
    return Structure(bits_per_pixel=bit_depth * _PNG_CHANNELS.get(colour_type, 1), metadata_bytes=metadata)


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


def webp_metadata_bytes(data: bytes) -> int:
    """The sizes of a WebP's ICCP, EXIF and XMP chunks (RIFF chunks, each padded to an even length)."""
    total, position, chunks = 0, 12, 0
    while position + 8 <= len(data) and chunks < MAX_WEBP_CHUNKS:
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        total += size if data[position : position + 4] in _WEBP_METADATA else 0
        position += 8 + size + (size & 1)
        chunks += 1
    return total


def _checked_webp(data: bytes) -> Structure:
    width, height = webp_size(data)
    return Structure(
        bits_per_pixel=32,
        open_bytes=WEBP_BYTES_PER_PIXEL * width * height,
        metadata_bytes=webp_metadata_bytes(data),
    )
