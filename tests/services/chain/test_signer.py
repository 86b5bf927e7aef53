"""The backend key: loading, and that it never shows up in reprs, logs, errors or pickles."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import coincurve
import pytest

from services.chain.errors import InvalidPrivateKey, SignatureError
from services.chain.hashing import sha256
from services.chain.signer import BackendSigner
from services.chain.signing import recover_public_key

SECRET = "c0ffee" * 10 + "beef"  # 64 hex chars
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _leaks(text: str) -> bool:
    return SECRET in text.lower() or SECRET[:16] in text.lower()


def test_load_from_file_env_and_hex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "backend.key"
    key_file.write_text(SECRET + "01\n")
    monkeypatch.setenv("BACKEND_KEY", "0x" + SECRET)
    a = BackendSigner.from_file(key_file)
    b = BackendSigner.from_env("BACKEND_KEY")
    c = BackendSigner.load(file=None, env="BACKEND_KEY", network="testnet")
    assert a.address == b.address and a.public_key == b.public_key
    assert a.address.startswith("SP") and c.address.startswith("ST")
    expected = coincurve.PrivateKey(bytes.fromhex(SECRET)).public_key.format(compressed=True)
    assert a.public_key == expected
    assert BackendSigner.load(file=key_file, env="UNSET_VARIABLE").address == a.address


@pytest.mark.parametrize(
    "text",
    [SECRET[:-2], SECRET + "02", SECRET + "0", "zz" * 32, "00" * 32, format(N, "064x"), ""],
)
def test_bad_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(InvalidPrivateKey) as info:
        BackendSigner.from_hex(text)
    assert text[:16] == "" or text[:16] not in str(info.value)


def test_missing_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(InvalidPrivateKey, match="NO_SUCH_KEY_VAR"):
        BackendSigner.from_env("NO_SUCH_KEY_VAR")
    with pytest.raises(InvalidPrivateKey, match="cannot read"):
        BackendSigner.from_file(tmp_path / "absent.key")
    with pytest.raises(InvalidPrivateKey):
        BackendSigner.load()
    with pytest.raises(InvalidPrivateKey):
        BackendSigner(b"\x01" * 31)


def test_key_never_in_repr_str_logs_or_pickles(caplog: pytest.LogCaptureFixture) -> None:
    signer = BackendSigner.from_hex(SECRET)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("signer ready: %s %r", signer, signer)
    logging.getLogger("test").info("vars: %s", {"signer": signer, "list": [signer]})
    assert signer.address in caplog.text
    assert not _leaks(caplog.text)
    assert repr(signer) == f"BackendSigner(address={signer.address!r}, network='mainnet')"
    assert not _leaks(str(signer)) and not _leaks(repr(signer)) and not _leaks(f"{signer!s:>10}")
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)
    assert not hasattr(signer, "__dict__")
    assert all(not _leaks(repr(getattr(signer, name, ""))) for name in dir(signer) if not name.startswith("_"))


def test_signs_hashes() -> None:
    signer = BackendSigner.from_hex(SECRET)
    h = sha256(b"payload")
    sig = signer.sign_hash_rsv(h)
    assert recover_public_key(h, sig) == signer.public_key
    with pytest.raises(SignatureError):
        signer.sign_hash_rsv(b"short")
