"""Stand-in for `ssl`, which WASI CPython lacks. Importing works (libraries
import it at module level); creating a context fails with a clear error."""

import enum

OPENSSL_VERSION = "none (pywrangler-rs local runtime)"
HAS_SNI = False
HAS_ALPN = False
CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED = 0, 1, 2
PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER, PROTOCOL_TLS = 16, 17, 2
OP_NO_COMPRESSION = 0


class Purpose(enum.Enum):
    SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
    CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


class TLSVersion(enum.IntEnum):
    MINIMUM_SUPPORTED = -2
    TLSv1_2 = 771
    TLSv1_3 = 772
    MAXIMUM_SUPPORTED = -1


class VerifyMode(enum.IntEnum):
    CERT_NONE = 0
    CERT_OPTIONAL = 1
    CERT_REQUIRED = 2


class SSLError(OSError):
    pass


class SSLZeroReturnError(SSLError):
    pass


class SSLWantReadError(SSLError):
    pass


class SSLWantWriteError(SSLError):
    pass


class SSLSyscallError(SSLError):
    pass


class SSLEOFError(SSLError):
    pass


class SSLCertVerificationError(SSLError, ValueError):
    pass


CertificateError = SSLCertVerificationError


def _unsupported(*args, **kwargs):
    raise SSLError("TLS is not available in the local runtime (use workers.fetch for HTTPS)")


class SSLContext:
    def __init__(self, *args, **kwargs):
        _unsupported()


class SSLObject:
    def __init__(self, *args, **kwargs):
        _unsupported()


class SSLSocket(SSLObject):
    pass


class MemoryBIO:
    def __init__(self, *args, **kwargs):
        _unsupported()


create_default_context = _unsupported
