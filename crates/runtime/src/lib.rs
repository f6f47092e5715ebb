//! CPython compiled to WebAssembly, hosted in wasmtime, with a memory snapshot
//! taken after the Worker's top-level code. Used by `dev` and `deploy`.
