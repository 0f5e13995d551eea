"""Which names are secret, and redaction of text and of a byte stream that arrives in pieces."""

import os

import pytest

from conductor.core.secrets import MASK_BYTES, Redactor, SecretNames, is_secret_name, redactor_for

SECRET_NAMES = (
    *("ANTHROPIC_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MYSQL_PASSWD"),
    *("MY_SERVICE_PASS", "SMTP_PASS", "PGPASS", "pass", "GPG_PASSPHRASE", "GOOGLE_APPLICATION_CREDENTIALS"),
    *("BASIC_AUTH", "PROXY_AUTH_HEADER", "HTTP_AUTHORIZATION", "OAUTH_CLIENT", "SSH_AUTH_SOCK"),
    *("SSH_PRIVATE_KEY", "GIT_PRIVATE_REPO_URL", "REDIS_PASS2"),
)
INNOCENT_NAMES = (
    *("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "PWD", "OLDPWD", "HOME", "USER", "SHELL", "TERM"),
    *("XAUTHORITY", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "PASSENGER_ROOT", "CUDA_VISIBLE_DEVICES"),
    *("CONDUCTOR_SEED", "TIME_BUDGET", "OPENBLAS_NUM_THREADS", "DISPLAY", "LANG", "SSH_CONNECTION"),
)


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", INNOCENT_NAMES)
def test_innocent_names(name):
    assert not is_secret_name(name)
    assert not SecretNames(["MY_SERVICE_*", "DB_URL"])(name)


def test_configured_names_and_patterns_whatever_the_case():
    names = SecretNames(["MY_SERVICE_*", "db_url"])
    assert names("MY_SERVICE_ENDPOINT") and names("my_service_x") and names("DB_URL")
    assert not names("DB_URLS") and not names("OTHER_SERVICE_ENDPOINT")
    assert names("HF_TOKEN")  # the built-in rule still holds


def test_redactor_masks_configured_values_in_text_and_bytes():
    env = {"DB_URL": "postgres://u:pw@db:5432/x", "HOME": "/home/somebody", "HF_TOKEN": "short"}
    plain = Redactor(env)
    configured = redactor_for(env, ["DB_URL"])
    line = "connecting to postgres://u:pw@db:5432/x from /home/somebody"
    assert plain(line) == line  # DB_URL is not secret by name; short values are never masked
    assert configured(line) == "connecting to [redacted] from /home/somebody"
    assert configured.redact_bytes(line.encode()) == configured(line).encode()


SECRET = "sk-test-0123456789abcdef"


def stream_through(redactor: Redactor, pieces: list[bytes]) -> bytes:
    stream = redactor.stream()
    return b"".join(stream.feed(p) for p in pieces) + stream.flush()


def test_a_secret_split_anywhere_is_masked():
    data = f"key={SECRET}; again {SECRET}\n".encode()
    redactor = Redactor({"API_KEY": SECRET})
    expected = data.replace(SECRET.encode(), MASK_BYTES)
    for cut in range(1, len(data)):
        assert stream_through(redactor, [data[:cut], data[cut:]]) == expected
    assert stream_through(redactor, [bytes([b]) for b in data]) == expected


def test_the_stream_holds_back_only_what_could_start_a_secret():
    stream = Redactor({"API_KEY": SECRET}).stream()
    assert stream.feed(b"loss 2.3\n") == b"loss 2.3\n"
    assert stream.feed(b"almost sk-te") == b"almost "
    assert stream.feed(b"rrific\n") == b"sk-terrific\n"
    assert stream.feed(b"ends with sk-test-0") == b"ends with "
    assert stream.flush() == b"sk-test-0"  # the stream ended: it was not a secret


def test_bytes_in_bytes_out():
    blob = os.urandom(200_000) + b"\xff\xfe\xc3\x28" + SECRET.encode() + b"\x00\x80"
    redactor = Redactor({"API_KEY": SECRET})
    pieces = [blob[i : i + 4093] for i in range(0, len(blob), 4093)]
    assert stream_through(redactor, pieces) == blob.replace(SECRET.encode(), MASK_BYTES)
    assert stream_through(Redactor({}), pieces) == blob
