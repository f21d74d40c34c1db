"""Redis deployment forms: a password in the URL, and TLS (`rediss://`) with a private CA."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import RedisStore, StoreUnavailable, ThreadKey, ThreadState, open_store
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

PASSWORD = "s3cret-pw"


async def _round_trip(store: RedisStore) -> None:
    key = ThreadKey("T1", "C1", "1700000000.000100")
    await store.save_thread(key, ThreadState(interaction_id="v1_x", turns=1), ttl_s=60)
    state = await store.get_thread(key)
    assert state is not None and state.interaction_id == "v1_x"


async def test_a_password_in_the_url_works_and_a_wrong_one_is_reported_without_it() -> None:
    with RedisServer(extra_args=["--requirepass", PASSWORD]) as server:
        store = await open_store(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")
        try:
            assert isinstance(store, RedisStore)
            await _round_trip(store)
        finally:
            await store.close()
        with pytest.raises(StoreUnavailable) as caught:
            await open_store(f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0")
        assert "wrong-" not in str(caught.value) and PASSWORD not in str(caught.value)


@pytest.fixture
def tls_files(tmp_path: Path) -> Iterator[Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate", pytrace=False)
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    yield tmp_path


async def test_rediss_url_with_password_and_ca(tls_files: Path) -> None:
    tls_port = free_port()
    cert, key = tls_files / "cert.pem", tls_files / "key.pem"
    args = ["--requirepass", PASSWORD, "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
            "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
            "--tls-auth-clients", "no"]
    with RedisServer(extra_args=args):
        url = f"rediss://:{PASSWORD}@127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
        store = await open_store(url)
        try:
            assert isinstance(store, RedisStore)
            await _round_trip(store)
        finally:
            await store.close()
        # Without the CA the server's certificate is not trusted: a clear start-up error.
        with pytest.raises(StoreUnavailable) as caught:
            await open_store(f"rediss://:{PASSWORD}@127.0.0.1:{tls_port}/0")
        assert PASSWORD not in str(caught.value)
