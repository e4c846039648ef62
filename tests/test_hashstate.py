"""Tests for registry_app.store.hashstate: serialisable SHA-256/512 state."""

import hashlib
import random
import struct

import pytest

from registry_app.store import hashstate
from registry_app.store.hashstate import HashState

ALGOS = ["sha256", "sha512"]
# Wire format: version, algorithm id, h[8], Nl, Nh, data block, num, md_len (big-endian).
LAYOUT = {"sha256": struct.Struct(">BB8III64sII"), "sha512": struct.Struct(">BB8QQQ128sII")}
BLOCK = {"sha256": 64, "sha512": 128}
DIGEST = {"sha256": 32, "sha512": 64}
SIZES = [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129]
DATA = bytes(random.Random(1234).randrange(256) for _ in range(4096))

needs_libcrypto = pytest.mark.skipif(not hashstate.SERIALISABLE, reason="libcrypto low-level SHA API missing")


def ref(algo, data):
    return hashlib.new(algo, data).hexdigest()


def unpack(algo, blob):
    version, ident, *rest = LAYOUT[algo].unpack(blob)
    h, (nl, nh, block, num, md_len) = rest[:8], rest[8:]
    return dict(version=version, ident=ident, h=h, nl=nl, nh=nh, block=block, num=num, md_len=md_len)


def pack(algo, f):
    return LAYOUT[algo].pack(f["version"], f["ident"], *f["h"], f["nl"], f["nh"], f["block"], f["num"], f["md_len"])


def state_after(algo, n):
    s = HashState.new(algo)
    s.update(DATA[:n])
    return s


def test_libcrypto_is_found_on_this_machine():
    # The deployment target ships libcrypto.so.3; losing it silently would disable resumable hashing.
    assert hashstate.SERIALISABLE is True


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("size", SIZES)
def test_digest_matches_hashlib_at_block_boundaries(algo, size):
    s = HashState.new(algo)
    s.update(DATA[:size])
    assert s.algorithm == algo
    assert s.hexdigest() == ref(algo, DATA[:size])


@pytest.mark.parametrize("algo", ALGOS)
def test_digest_matches_hashlib_for_random_sizes_and_chunking(algo):
    rng = random.Random(99)
    for _ in range(200):
        data = DATA[: rng.randrange(len(DATA))]
        s = HashState.new(algo)
        pos = 0
        while pos < len(data):
            step = rng.randrange(1, 300)
            s.update(data[pos : pos + step])
            pos += step
        assert s.hexdigest() == ref(algo, data), len(data)


@pytest.mark.parametrize("algo", ALGOS)
def test_update_accepts_bytearray_and_memoryviews(algo):
    s = HashState.new(algo)
    s.update(bytearray(DATA[:100]))
    s.update(memoryview(DATA)[100:1000])  # read-only slice of bytes
    s.update(memoryview(bytearray(DATA))[1000:2000])  # writable
    s.update(memoryview(DATA[2000:3000]).cast("I"))  # itemsize 4: hashed as its 1000 raw bytes
    s.update(b"")
    assert s.hexdigest() == ref(algo, DATA[:3000])


@pytest.mark.parametrize("algo", ALGOS)
def test_update_rejects_str_and_non_contiguous(algo):
    s = HashState.new(algo)
    with pytest.raises(TypeError):
        s.update("text")
    with pytest.raises(BufferError):
        s.update(memoryview(DATA)[::2])
    assert s.hexdigest() == ref(algo, b"")


@pytest.mark.parametrize("algo", ALGOS)
def test_hexdigest_does_not_disturb_state(algo):
    s = state_after(algo, 70)
    before = s.to_bytes()
    assert s.hexdigest() == ref(algo, DATA[:70])
    assert s.hexdigest() == ref(algo, DATA[:70])
    assert s.to_bytes() == before
    s.update(DATA[70:500])
    assert s.hexdigest() == ref(algo, DATA[:500])


@pytest.mark.parametrize("algo", ALGOS)
def test_copy_is_independent(algo):
    s = state_after(algo, 10)
    c = s.copy()
    c.update(DATA[10:20])
    assert s.hexdigest() == ref(algo, DATA[:10])
    assert c.hexdigest() == ref(algo, DATA[:20])
    assert c.algorithm == algo


def test_new_rejects_unknown_algorithm():
    for bad in ["md5", "sha1", "SHA256", "sha384", ""]:
        with pytest.raises(ValueError):
            HashState.new(bad)


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_round_trip_at_every_split_point(algo):
    data = DATA[:300]
    want = ref(algo, data)
    for split in range(len(data) + 1):
        s = HashState.new(algo)
        s.update(data[:split])
        blob = s.to_bytes()
        assert isinstance(blob, bytes) and len(blob) == LAYOUT[algo].size
        fields = unpack(algo, blob)
        assert fields["num"] == split % BLOCK[algo]
        assert fields["nl"] == split * 8 and fields["nh"] == 0
        assert fields["md_len"] == DIGEST[algo]
        restored = HashState.from_bytes(algo, blob)
        assert restored.algorithm == algo
        assert restored.to_bytes() == blob
        assert restored.hexdigest() == ref(algo, data[:split])
        restored.update(data[split:])
        assert restored.hexdigest() == want, split


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_chained_round_trips_like_a_multi_request_upload(algo):
    rng = random.Random(7)
    blob, pos = HashState.new(algo).to_bytes(), 0
    while pos < len(DATA):
        step = rng.randrange(1, 700)
        s = HashState.from_bytes(algo, blob)
        s.update(DATA[pos : pos + step])
        blob, pos = s.to_bytes(), pos + step
    assert HashState.from_bytes(algo, bytearray(blob)).hexdigest() == ref(algo, DATA)


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_serialisation_is_canonical(algo):
    # Stale bytes past num in libcrypto's buffer must not leak into the blob.
    a = state_after(algo, 200)
    b = HashState.new(algo)
    b.update(DATA[:100])
    b.update(DATA[100:200])
    assert a.to_bytes() == b.to_bytes()
    fields = unpack(algo, a.to_bytes())
    assert fields["block"][fields["num"]:] == bytes(BLOCK[algo] - fields["num"])


# ---- from_bytes on untrusted input -------------------------------------------------


def forged(algo, n=70, **changes):
    fields = unpack(algo, state_after(algo, n).to_bytes())
    fields.update(changes)
    return pack(algo, fields)


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_forged_helper_produces_valid_blob_when_unchanged(algo):
    assert HashState.from_bytes(algo, forged(algo)).hexdigest() == ref(algo, DATA[:70])


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_wrong_length(algo):
    blob = state_after(algo, 70).to_bytes()
    for bad in [b"", blob + b"\0", blob[:-1], blob * 2]:
        with pytest.raises(ValueError):
            HashState.from_bytes(algo, bad)


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_truncated_input(algo):
    blob = state_after(algo, 70).to_bytes()
    for n in range(len(blob)):
        with pytest.raises(ValueError):
            HashState.from_bytes(algo, blob[:n])


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_bad_version(algo):
    for version in [0, 2, 255]:
        with pytest.raises(ValueError, match="version"):
            HashState.from_bytes(algo, forged(algo, version=version))


@needs_libcrypto
def test_from_bytes_rejects_wrong_algorithm():
    # Right length for sha256 but the id byte says sha512, and vice versa.
    with pytest.raises(ValueError, match="algorithm id"):
        HashState.from_bytes("sha256", forged("sha256", ident=2))
    with pytest.raises(ValueError, match="algorithm id"):
        HashState.from_bytes("sha512", forged("sha512", ident=1))
    # A sha512 state offered as sha256 (and vice versa) has the wrong length.
    with pytest.raises(ValueError):
        HashState.from_bytes("sha256", state_after("sha512", 5).to_bytes())
    with pytest.raises(ValueError):
        HashState.from_bytes("sha512", state_after("sha256", 5).to_bytes())
    with pytest.raises(ValueError):
        HashState.from_bytes("md5", state_after("sha256", 5).to_bytes())


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_num_at_or_beyond_block_size(algo):
    block = BLOCK[algo]
    for num in [block, block + 1, 2**31, 2**32 - 1]:
        # Nl set to match num as far as it can (whole bytes), so only the range check can catch it.
        with pytest.raises(ValueError, match="out of range"):
            HashState.from_bytes(algo, forged(algo, num=num, nl=(num * 8) % 2**32))


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_num_inconsistent_with_bit_count(algo):
    # 70 bytes hashed: Nl = 560 bits, num = 70 % block.
    num = 70 % BLOCK[algo]
    with pytest.raises(ValueError, match="inconsistent"):
        HashState.from_bytes(algo, forged(algo, num=num - 1))
    with pytest.raises(ValueError, match="inconsistent"):
        HashState.from_bytes(algo, forged(algo, nl=71 * 8))
    with pytest.raises(ValueError, match="whole number of bytes"):
        HashState.from_bytes(algo, forged(algo, nl=70 * 8 + 3))
    # Nl advanced by a whole number of blocks stays consistent (Nh is free).
    s = HashState.from_bytes(algo, forged(algo, nl=(70 + BLOCK[algo]) * 8, nh=5))
    assert len(s.hexdigest()) == 2 * DIGEST[algo]


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_wrong_md_len(algo):
    for md_len in [0, 28, 48, DIGEST[algo] - 1, DIGEST[algo] + 1, 2**32 - 1]:
        if md_len == DIGEST[algo]:
            continue
        with pytest.raises(ValueError, match="md_len"):
            HashState.from_bytes(algo, forged(algo, md_len=md_len))


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_rejects_garbage_past_num(algo):
    fields = unpack(algo, state_after(algo, 70).to_bytes())
    block = bytearray(fields["block"])
    block[-1] = 1
    with pytest.raises(ValueError, match="past num"):
        HashState.from_bytes(algo, forged(algo, block=bytes(block)))


@needs_libcrypto
def test_from_bytes_rejects_non_bytes():
    for bad in [None, 42, "x" * LAYOUT["sha256"].size]:
        with pytest.raises(ValueError):
            HashState.from_bytes("sha256", bad)


@needs_libcrypto
@pytest.mark.parametrize("algo", ALGOS)
def test_from_bytes_survives_random_corruption(algo):
    # Flip random bytes: either ValueError or a state that still finalises without crashing.
    rng = random.Random(5)
    blob = bytearray(state_after(algo, 70).to_bytes())
    for _ in range(2000):
        bad = bytearray(blob)
        for _ in range(rng.randrange(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        try:
            s = HashState.from_bytes(algo, bytes(bad))
        except ValueError:
            continue
        s.update(DATA[:300])
        assert len(s.hexdigest()) == 2 * DIGEST[algo]


# ---- fallback when libcrypto is missing --------------------------------------------


@pytest.mark.parametrize("algo", ALGOS)
def test_fallback_without_libcrypto(monkeypatch, algo):
    monkeypatch.setattr(hashstate, "_LIB", None)
    s = HashState.new(algo)
    s.update(DATA[:100])
    s.update(memoryview(DATA)[100:1000])
    s.update(bytearray(DATA[1000:1500]))
    assert s.to_bytes() is None
    assert s.hexdigest() == ref(algo, DATA[:1500])
    c = s.copy()
    c.update(DATA[1500:])
    assert c.hexdigest() == ref(algo, DATA)
    assert s.hexdigest() == ref(algo, DATA[:1500])
    assert c.to_bytes() is None
    with pytest.raises(ValueError):
        HashState.new("md5")
    with pytest.raises(ValueError):
        HashState.from_bytes(algo, bytes(LAYOUT[algo].size))
