from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar, Unpack, overload

from workers import Request, Response

_T = TypeVar("_T")

# Other JavaScript globals (`from js import console, Object, URL, ...`) are untyped.
def __getattr__(name: str) -> Any: ...

# --- Runtime context -------------------------------------------------------

class ExecutionContext:
    props: Any
    def waitUntil(self, promise: Awaitable[Any], /) -> None: ...
    def passThroughOnException(self) -> None: ...

class ScheduledController:
    cron: str
    scheduledTime: float
    type: str
    def noRetry(self) -> None: ...

class QueueRetryOptions(TypedDict, total=False):
    delaySeconds: int

class Message:
    id: str
    timestamp: Any
    body: Any
    attempts: int
    def ack(self) -> None: ...
    def retry(self, options: QueueRetryOptions | None = None, /, **kwargs: Unpack[QueueRetryOptions]) -> None: ...

class MessageBatch:
    queue: str
    messages: list[Message]
    def ackAll(self) -> None: ...
    def retryAll(self, options: QueueRetryOptions | None = None, /, **kwargs: Unpack[QueueRetryOptions]) -> None: ...

# --- Workers KV ------------------------------------------------------------

class KVNamespaceGetOptions(TypedDict, total=False):
    type: Literal["text", "json", "arrayBuffer", "stream"]
    cacheTtl: int

class KVNamespacePutOptions(TypedDict, total=False):
    expiration: int
    expirationTtl: int
    metadata: Any

class KVNamespaceListOptions(TypedDict, total=False):
    prefix: str
    limit: int
    cursor: str | None

class KVNamespaceListKey(TypedDict):
    name: str
    expiration: NotRequired[int]
    metadata: NotRequired[Any]

class KVNamespaceListResult(TypedDict):
    keys: list[KVNamespaceListKey]
    list_complete: bool
    cursor: NotRequired[str]
    cacheStatus: str | None

class KVNamespaceGetWithMetadataResult(TypedDict, Generic[_T]):
    value: _T | None
    metadata: Any
    cacheStatus: str | None

class KVNamespace:
    @overload
    def get(self, key: str) -> Awaitable[str | None]: ...
    @overload
    def get(self, key: str, type: Literal["text"]) -> Awaitable[str | None]: ...
    @overload
    def get(self, key: str, type: Literal["json"]) -> Awaitable[Any]: ...
    @overload
    def get(self, key: str, type: Literal["arrayBuffer"]) -> Awaitable[memoryview | None]: ...
    @overload
    def get(self, key: str, type: Literal["stream"]) -> Awaitable[Any]: ...
    @overload
    def get(self, key: str, options: KVNamespaceGetOptions) -> Awaitable[Any]: ...
    @overload
    def get(self, key: list[str], type: Literal["text", "json"] = ...) -> Awaitable[dict[str, Any]]: ...
    @overload
    def getWithMetadata(self, key: str) -> Awaitable[KVNamespaceGetWithMetadataResult[str]]: ...
    @overload
    def getWithMetadata(self, key: str, type: Literal["text"]) -> Awaitable[KVNamespaceGetWithMetadataResult[str]]: ...
    @overload
    def getWithMetadata(self, key: str, type: Literal["json"]) -> Awaitable[KVNamespaceGetWithMetadataResult[Any]]: ...
    @overload
    def getWithMetadata(
        self, key: str, type: Literal["arrayBuffer"]
    ) -> Awaitable[KVNamespaceGetWithMetadataResult[memoryview]]: ...
    @overload
    def getWithMetadata(self, key: str, options: KVNamespaceGetOptions) -> Awaitable[KVNamespaceGetWithMetadataResult[Any]]: ...
    def put(
        self,
        key: str,
        value: str | bytes | memoryview,
        options: KVNamespacePutOptions | None = None,
        /,
        **kwargs: Unpack[KVNamespacePutOptions],
    ) -> Awaitable[None]: ...
    def delete(self, key: str) -> Awaitable[None]: ...
    def list(
        self, options: KVNamespaceListOptions | None = None, /, **kwargs: Unpack[KVNamespaceListOptions]
    ) -> Awaitable[KVNamespaceListResult]: ...

# --- D1 --------------------------------------------------------------------

class D1Meta(TypedDict, total=False):
    duration: float
    changes: int
    last_row_id: int
    changed_db: bool
    size_after: int
    rows_read: int
    rows_written: int
    served_by: str

class D1Result(TypedDict):
    success: bool
    results: list[dict[str, Any]]
    meta: D1Meta

class D1ExecResult(TypedDict):
    count: int
    duration: float

class D1RawOptions(TypedDict, total=False):
    columnNames: bool

class D1PreparedStatement:
    def bind(self, *values: Any) -> D1PreparedStatement: ...
    @overload
    def first(self) -> Awaitable[dict[str, Any] | None]: ...
    @overload
    def first(self, column: str) -> Awaitable[Any]: ...
    def all(self) -> Awaitable[D1Result]: ...
    def run(self) -> Awaitable[D1Result]: ...
    def raw(self, options: D1RawOptions | None = None, /, **kwargs: Unpack[D1RawOptions]) -> Awaitable[list[list[Any]]]: ...

class D1Database:
    def prepare(self, query: str) -> D1PreparedStatement: ...
    def exec(self, query: str) -> Awaitable[D1ExecResult]: ...
    def batch(self, statements: Sequence[D1PreparedStatement]) -> Awaitable[list[D1Result]]: ...

# --- R2 --------------------------------------------------------------------

class R2HTTPMetadata(TypedDict, total=False):
    contentType: str
    contentLanguage: str
    contentDisposition: str
    contentEncoding: str
    cacheControl: str
    cacheExpiry: Any

class R2GetOptions(TypedDict, total=False):
    onlyIf: Any
    range: Any

class R2PutOptions(TypedDict, total=False):
    onlyIf: Any
    httpMetadata: R2HTTPMetadata
    customMetadata: dict[str, str]
    md5: str
    sha1: str
    sha256: str
    storageClass: str

class R2ListOptions(TypedDict, total=False):
    limit: int
    prefix: str
    cursor: str
    delimiter: str
    startAfter: str
    include: list[Literal["httpMetadata", "customMetadata"]]

class R2Object:
    key: str
    version: str
    size: int
    etag: str
    httpEtag: str
    uploaded: Any
    httpMetadata: R2HTTPMetadata
    customMetadata: dict[str, str]
    storageClass: str
    def writeHttpMetadata(self, headers: Any, /) -> None: ...

class R2ObjectBody(R2Object):
    body: Any
    bodyUsed: bool
    def text(self) -> Awaitable[str]: ...
    def json(self) -> Awaitable[Any]: ...
    def arrayBuffer(self) -> Awaitable[memoryview]: ...
    def blob(self) -> Awaitable[Any]: ...

class R2Objects(TypedDict):
    objects: list[R2Object]
    truncated: bool
    cursor: NotRequired[str]
    delimitedPrefixes: list[str]

class R2Bucket:
    def head(self, key: str) -> Awaitable[R2Object | None]: ...
    def get(
        self, key: str, options: R2GetOptions | None = None, /, **kwargs: Unpack[R2GetOptions]
    ) -> Awaitable[R2ObjectBody | None]: ...
    def put(
        self,
        key: str,
        value: str | bytes | memoryview | None,
        options: R2PutOptions | None = None,
        /,
        **kwargs: Unpack[R2PutOptions],
    ) -> Awaitable[R2Object | None]: ...
    def delete(self, keys: str | list[str]) -> Awaitable[None]: ...
    def list(self, options: R2ListOptions | None = None, /, **kwargs: Unpack[R2ListOptions]) -> Awaitable[R2Objects]: ...

# --- Durable Objects -------------------------------------------------------

class DurableObjectId:
    name: str | None
    def toString(self) -> str: ...
    def equals(self, other: DurableObjectId, /) -> bool: ...

class DurableObjectStub:
    """A stub for one Durable Object: `fetch`, or any RPC method (awaitable)."""

    id: DurableObjectId
    name: str | None
    def fetch(self, resource: str | Request | Any, /, **kwargs: Any) -> Awaitable[Response]: ...
    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...

class DurableObjectNamespaceGetOptions(TypedDict, total=False):
    locationHint: str

class DurableObjectNamespace:
    def idFromName(self, name: str, /) -> DurableObjectId: ...
    def idFromString(self, id: str, /) -> DurableObjectId: ...
    def newUniqueId(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> DurableObjectId: ...
    def get(
        self, id: DurableObjectId, options: DurableObjectNamespaceGetOptions | None = None, /
    ) -> DurableObjectStub: ...
    def getByName(
        self, name: str, options: DurableObjectNamespaceGetOptions | None = None, /
    ) -> DurableObjectStub: ...
    def jurisdiction(self, jurisdiction: str, /) -> DurableObjectNamespace: ...

class SqlStorageCursor:
    columnNames: list[str]
    rowsRead: int
    rowsWritten: int
    def toArray(self) -> list[dict[str, Any]]: ...
    def one(self) -> dict[str, Any]: ...
    def raw(self) -> Iterator[list[Any]]: ...
    def __iter__(self) -> Iterator[dict[str, Any]]: ...

class SqlStorage:
    databaseSize: int
    def exec(self, query: str, /, *bindings: Any) -> SqlStorageCursor: ...

class DurableObjectStorage:
    sql: SqlStorage
    def get(self, key: str | list[str], /) -> Awaitable[Any]: ...
    def put(self, key: str | dict[str, Any], value: Any = ..., /) -> Awaitable[None]: ...
    def delete(self, key: str | list[str], /) -> Awaitable[Any]: ...
    def deleteAll(self) -> Awaitable[None]: ...
    def list(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> Awaitable[dict[str, Any]]: ...
    def getAlarm(self) -> Awaitable[float | None]: ...
    def setAlarm(self, scheduledTime: Any, /) -> Awaitable[None]: ...
    def deleteAlarm(self) -> Awaitable[None]: ...

class DurableObjectState:
    id: DurableObjectId
    storage: DurableObjectStorage
    def waitUntil(self, promise: Awaitable[Any], /) -> None: ...
    def blockConcurrencyWhile(self, callback: Callable[[], Awaitable[_T]], /) -> Awaitable[_T]: ...
    def acceptWebSocket(self, ws: Any, tags: list[str] | None = None, /) -> None: ...
    def getWebSockets(self, tag: str | None = None, /) -> list[Any]: ...
    def getTags(self, ws: Any, /) -> list[str]: ...
    def setWebSocketAutoResponse(self, pair: Any | None = None, /) -> None: ...
    def getWebSocketAutoResponse(self) -> Any | None: ...
    def getWebSocketAutoResponseTimestamp(self, ws: Any, /) -> Any | None: ...
    def setHibernatableWebSocketEventTimeout(self, timeoutMs: int | None = None, /) -> None: ...
    def getHibernatableWebSocketEventTimeout(self) -> int | None: ...
    def abort(self, reason: str | None = None, /) -> None: ...

# --- Queues ----------------------------------------------------------------

QueueContentType = Literal["text", "bytes", "json", "v8"]

class QueueSendOptions(TypedDict, total=False):
    contentType: QueueContentType
    delaySeconds: int

class QueueSendBatchOptions(TypedDict, total=False):
    delaySeconds: int

class MessageSendRequest(TypedDict):
    body: Any
    contentType: NotRequired[QueueContentType]
    delaySeconds: NotRequired[int]

class Queue:
    def send(self, message: Any, options: QueueSendOptions | None = None, /, **kwargs: Unpack[QueueSendOptions]) -> Awaitable[None]: ...
    def sendBatch(
        self,
        messages: Iterable[MessageSendRequest],
        options: QueueSendBatchOptions | None = None,
        /,
        **kwargs: Unpack[QueueSendBatchOptions],
    ) -> Awaitable[None]: ...

# --- Service bindings ------------------------------------------------------

class Fetcher:
    """A service binding: `fetch` returns a `workers.Response`; other attributes are RPC methods."""

    def fetch(self, resource: str | Request | Any, /, **kwargs: Any) -> Awaitable[Response]: ...
    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...

# --- Workflows -------------------------------------------------------------

class WorkflowInstanceCreateOptions(TypedDict, total=False):
    id: str
    params: Any

class WorkflowInstanceStatus(TypedDict, total=False):
    status: Literal["queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause", "unknown"]
    error: Any
    output: Any

class WorkflowInstance:
    id: str
    def status(self) -> Awaitable[WorkflowInstanceStatus]: ...
    def pause(self) -> Awaitable[None]: ...
    def resume(self) -> Awaitable[None]: ...
    def terminate(self) -> Awaitable[None]: ...
    def restart(self) -> Awaitable[None]: ...
    def sendEvent(self, event: dict[str, Any], /) -> Awaitable[None]: ...

class Workflow:
    def create(self, options: WorkflowInstanceCreateOptions | None = None, /, **kwargs: Unpack[WorkflowInstanceCreateOptions]) -> Awaitable[WorkflowInstance]: ...
    def createBatch(self, batch: list[WorkflowInstanceCreateOptions], /) -> Awaitable[list[WorkflowInstance]]: ...
    def get(self, id: str, /) -> Awaitable[WorkflowInstance]: ...

# --- Other bindings --------------------------------------------------------

class SendEmail:
    def send(self, message: Any, /) -> Awaitable[Any]: ...

class AnalyticsEngineDataPoint(TypedDict, total=False):
    indexes: list[str | bytes]
    blobs: list[str | bytes | None]
    doubles: list[float]

class AnalyticsEngineDataset:
    def writeDataPoint(self, event: AnalyticsEngineDataPoint | None = None, /, **kwargs: Unpack[AnalyticsEngineDataPoint]) -> None: ...

class Hyperdrive:
    connectionString: str
    host: str
    port: int
    user: str
    password: str
    database: str

class SecretsStoreSecret:
    def get(self) -> Awaitable[str]: ...

class RateLimitOptions(TypedDict):
    key: str

class RateLimitOutcome(TypedDict):
    success: bool

class RateLimit:
    def limit(self, options: RateLimitOptions | None = None, /, **kwargs: Unpack[RateLimitOptions]) -> Awaitable[RateLimitOutcome]: ...

class WorkerVersionMetadata:
    id: str
    tag: str
    timestamp: str

class WorkerCode(TypedDict, total=False):
    """The code of a dynamic worker (`mainModule` and `modules` are required)."""

    compatibilityDate: str
    compatibilityFlags: Sequence[str]
    mainModule: str
    modules: dict[str, str | dict[str, Any]]
    env: dict[str, Any]
    globalOutbound: Fetcher | None

class WorkerStub:
    """A dynamic worker; `getEntrypoint()` is its default entrypoint."""

    def getEntrypoint(self, name: str | None = None, options: dict[str, Any] | None = None, /) -> Fetcher: ...

class WorkerLoader:
    """Worker loader: dynamic workers built from code."""

    def get(self, name: str, get_code: Callable[[], WorkerCode | Awaitable[WorkerCode]], /) -> WorkerStub: ...
    def load(self, code: WorkerCode, /) -> WorkerStub: ...

class Ai:
    """Workers AI: runs on Cloudflare only."""

    def run(self, model: str, inputs: dict[str, Any], options: dict[str, Any] | None = None, /) -> Awaitable[Any]: ...
    def __getattr__(self, name: str) -> Any: ...

class VectorizeIndex:
    """Vectorize: runs on Cloudflare only."""

    def query(self, vector: Sequence[float], options: dict[str, Any] | None = None, /) -> Awaitable[Any]: ...
    def insert(self, vectors: Sequence[dict[str, Any]], /) -> Awaitable[Any]: ...
    def upsert(self, vectors: Sequence[dict[str, Any]], /) -> Awaitable[Any]: ...
    def getByIds(self, ids: Sequence[str], /) -> Awaitable[Any]: ...
    def deleteByIds(self, ids: Sequence[str], /) -> Awaitable[Any]: ...
    def describe(self) -> Awaitable[Any]: ...

class DispatchNamespace:
    def get(self, name: str, args: dict[str, Any] | None = None, options: dict[str, Any] | None = None, /) -> Fetcher: ...

class Pipeline:
    def send(self, records: Sequence[Any], /) -> Awaitable[None]: ...

class CloudflareBinding:
    """A binding to a Cloudflare service without a typed Python surface here."""

    def __getattr__(self, name: str) -> Any: ...
