//! Secrets Store bindings (`secrets_store_secrets[]`) as miniflare emulates
//! them: each store is a KV namespace in miniflare's layout under
//! `secrets-store/` (index named by `idFromName(store_id)`, values as blob
//! files), keyed by secret name, which is where `npx wrangler secrets-store
//! secret create <store> --name <n> --value <v>` (local mode) writes.

use std::path::Path;

use serde_json::Value;

use crate::bindings::kv::KvStore;
use crate::dev::bindings::{Clock, Reply, miniflare};
use crate::dev::bindings::{OpError, OpResult};

/// One `secrets_store_secrets[]` binding: a secret of a store.
pub struct SecretsStoreSecret {
    store: KvStore,
    secret_name: String,
}

impl SecretsStoreSecret {
    /// Open store `store_id` under `v3` for `secret_name`.
    pub fn open(
        v3: &Path,
        store_id: &str,
        secret_name: &str,
        clock: Clock,
    ) -> OpResult<SecretsStoreSecret> {
        let store = KvStore::open_at(
            &miniflare::secrets_store_path(v3, store_id),
            miniflare::blobs_dir(v3, "secrets-store", store_id),
            clock,
        )?;
        Ok(SecretsStoreSecret {
            store,
            secret_name: secret_name.to_string(),
        })
    }

    /// `secrets.get`: the secret's value, or miniflare's "not found" error.
    pub fn handle(&self, op: &str) -> OpResult<Reply> {
        match op {
            "get" => match self.store.get(&self.secret_name)? {
                Some((bytes, _)) => Ok(Reply::value(Value::String(
                    String::from_utf8_lossy(&bytes).into_owned(),
                ))),
                None => Err(OpError::failed(format!(
                    "Secret \"{}\" not found",
                    self.secret_name
                ))),
            },
            _ => Err(OpError::UnknownOp(format!("secrets.{op}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    #[test]
    fn reads_what_wrangler_writes_locally() {
        // `wrangler secrets-store secret create store123 --name api-key
        // --value s3cr3t` (wrangler 4.86.0, local) wrote this index file.
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            miniflare::secrets_store_path(dir.path(), "store123"),
            dir.path().join(
                "secrets-store/miniflare-secrets-store-KVNamespaceObject/\
                 810d836eb495a3ba559d260177ec2b7fe7d4bd53b4d1b93fb5227c31677302c3.sqlite"
            )
        );
        let clock: Clock = Arc::new(|| 1_000);
        let secret = SecretsStoreSecret::open(dir.path(), "store123", "api-key", clock.clone())
            .expect("open");
        let e = secret.handle("get").expect_err("missing");
        assert_eq!(e.to_string(), "Secret \"api-key\" not found");
        // Written the way wrangler writes it: key = secret name, value in a blob.
        let store = KvStore::open_at(
            &miniflare::secrets_store_path(dir.path(), "store123"),
            miniflare::blobs_dir(dir.path(), "secrets-store", "store123"),
            clock,
        )
        .expect("store");
        store
            .handle(
                "put",
                &json!({"key": "api-key", "metadata": {"uuid": "u"}}),
                b"s3cr3t".to_vec(),
            )
            .expect("put");
        assert_eq!(secret.handle("get").expect("get").value, json!("s3cr3t"));
        assert!(dir.path().join("secrets-store/store123/blobs").is_dir());
    }
}
